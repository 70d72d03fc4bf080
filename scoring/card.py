"""The model card format: Markdown rendered from the card JSON written at training, and the readers of its parts
(external metrics, sections, global explanation) that the model pages, admin and reports use."""

from __future__ import annotations

from typing import Any

from scoring.artifact import calibration_from

INTENDED_USE_HEADING = "## Intended use and limits"


def external_metrics(card: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The card's external evaluation (its key, e.g. "external_set_b", and metrics), or (None, {})."""
    metrics = card.get("metrics")
    found: tuple[str | None, Any] = next(
        ((k, v) for k, v in (metrics.items() if isinstance(metrics, dict) else ()) if k.startswith("external")),
        (None, {}),
    )
    return found if isinstance(found[1], dict) else (found[0], {})


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _metric_rows(metrics: dict[str, Any]) -> list[str]:
    keys = ("auroc", "auprc", "utility", "ece", "brier", "n_rows", "n_patients", "positive_rows")
    rows = ["| set | " + " | ".join(k for k in keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, values in metrics.items():
        rows.append(f"| {name} | " + " | ".join(_fmt(values.get(k)) for k in keys) + " |")
    return rows


def _subgroup_rows(metrics: dict[str, Any]) -> list[str]:
    rows: list[str] = []
    for name, values in metrics.items():
        for group, g in (values.get("subgroups") or {}).items():
            rows.append(f"| {name} | {group} | {_fmt(g['auroc'])} | {g['n']} | {g['positives']} |")
    return ["| set | subgroup | AUROC | rows | positives |", "|---|---|---|---|---|", *rows] if rows else []


def _baseline_rows(metrics: dict[str, Any]) -> list[str]:
    rows: list[str] = []
    for name, values in metrics.items():
        for rule, b in (values.get("baselines") or {}).items():
            rows.append(
                f"| {name} | {rule} | {_fmt(b['auroc'])} | {_fmt(b['utility_at_alarm'])} "
                f"(alarm at >= {b['alarm_at']}) | {_fmt(b['model_auroc_same_rows'])} | "
                f"{_fmt(b['model_utility_same_rows'])} | {b['coverage']:.1%} |"
            )
    head = [
        "| set | rule | rule AUROC | rule utility | model AUROC (same rows) | model utility (same rows) "
        "| rows scorable |",
        "|---|---|---|---|---|---|---|",
    ]
    return head + rows if rows else []


def _reliability(metrics: dict[str, Any]) -> list[list[str]]:
    """Calibration by probability bin of each evaluated set: set, bin, mean predicted, observed, rows."""
    return [
        [name, f"{b['lower']:.2f}-{b['upper']:.2f}", f"{b['predicted']:.3f}", f"{b['observed']:.3f}", str(b["n"])]
        for name, v in metrics.items()
        for b in (v.get("reliability") or [])
    ]


def card_markdown(card: dict[str, Any]) -> str:
    """The Markdown model card."""
    th = card.get("thresholds", {})
    lines = [
        f"# Model card: {card['title']} ({card['name']} {card.get('version', '')})",
        "",
        f"- Kind: {card['kind']}; feature spec {card['spec_version']}; {len(card['features'])} features",
        f"- Horizon: {card.get('horizon_hours') or 'n/a'} h" if card.get("horizon_hours") else "- Horizon: n/a",
        f"- Trained: {card['created_at']}; {card.get('trees')} trees; ONNX sha256 `{card.get('sha256', '')}`",
        f"- Training data: {', '.join(card['training_data']['files'])}",
        f"- Split: {card['training_data']['split']}",
        f"- Calibration: {calibration_from(card['calibration']).text()}",
        f"- Thresholds: moderate >= {_fmt(th.get('moderate'))}, high >= {_fmt(th.get('high'))} "
        f"({th.get('criterion', '')})",
        "",
        *adaptation_markdown(card),
        "## Metrics",
        "",
        *_metric_rows(card["metrics"]),
        "",
    ]
    if sub := _subgroup_rows(card["metrics"]):
        lines += ["## Subgroups", "", *sub, ""]
    if base := _baseline_rows(card["metrics"]):
        lines += ["## Rule baselines on the same rows", "", *base, ""]
    if rel := _reliability(card["metrics"]):
        lines += [
            "## Calibration by probability bin",
            "",
            "| set | bin | mean predicted | observed | rows |",
            "|---|---|---|---|---|",
            *("| " + " | ".join(r) + " |" for r in rel),
            "",
        ]
    lines += explanation_markdown(card)
    lines += [
        INTENDED_USE_HEADING,
        "",
        card.get("intended_use", ""),
        "",
        card.get("limitations", ""),
        "",
        "## Sources",
        "",
        *[f"- {c}" for c in card.get("citations", [])],
        "",
    ]
    return "\n".join(lines)


def card_markdown_sections(card: dict[str, Any]) -> dict[str, list[list[str]]]:
    """The card's tables as rows of strings (metrics, subgroups, baselines, reliability) for the HTML page."""
    metrics = card.get("metrics") or {}
    keys = ("auroc", "auprc", "utility", "ece", "brier", "n_rows", "n_patients")
    out: dict[str, list[list[str]]] = {
        "metrics": [[name, *(_fmt(v.get(k)) for k in keys)] for name, v in metrics.items()],
        "subgroups": [
            [name, group, _fmt(g["auroc"]), str(g["n"]), str(g["positives"])]
            for name, v in metrics.items()
            for group, g in (v.get("subgroups") or {}).items()
        ],
        "baselines": [
            [
                name,
                rule,
                _fmt(b["auroc"]),
                _fmt(b["utility_at_alarm"]),
                _fmt(b["model_auroc_same_rows"]),
                _fmt(b["model_utility_same_rows"]),
                f"{b['coverage']:.1%}",
            ]
            for name, v in metrics.items()
            for rule, b in (v.get("baselines") or {}).items()
        ],
        "reliability": _reliability(metrics),
        "adaptation": adaptation_rows(card),
        "explanation": [
            [f["label"], f["name"], f"{f['mean_abs_shap']:.4f}"]
            for f in (card.get("global_explanation") or {}).get("features", [])
        ],
    }
    return out


def _counted(part: dict[str, Any]) -> str:
    return f"{part['stays']} stays ({part['septic_stays']} septic, {part['rows']} hourly rows)"


def adaptation_rows(card: dict[str, Any]) -> list[list[str]]:
    """What local data an adapted version saw, as (label, value) rows (empty for a version never adapted)."""
    seen = card.get("adaptation")
    if not seen:
        return []
    site = seen["site_data"]
    rows = [
        ["method", f"{seen['method']}: {seen['method_description']}"],
        ["adapted from", f"{card['name']} {seen.get('base_version')} (ONNX sha256 {seen.get('base_sha256')})"],
        ["adapted at", seen["adapted_at"]],
        ["site data", f"{', '.join(site['files'])}: {_counted(site)}; sha256 {site['sha256']}"],
        *_site_reading(site),
        ["dates", f"exported {site['exported_at']}; {site['dates']}"],
        ["adaptation half", _counted(seen["adaptation_half"])],
        ["used for adaptation", _counted(seen["used_for_adaptation"])],
        [
            "validation (never seen by the adaptation)",
            f"{_counted(seen['validation'])}; {seen['validation']['source']}",
        ],
        ["seed; minimum septic stays", f"{seen['seed']}; {seen['min_septic_stays']}"],
    ]
    if "trees_added" in seen:
        rows.append(
            ["trees", f"{seen['trees_before']} of the base version + {seen['trees_added']} grown on site stays"]
        )
    if "training_stays" in seen:
        rows.append(["pooled with", f"{seen['training_stays']} training stays of set A ({seen['training_rows']} rows)"])
    if "seeds" in seen:
        each = ", ".join(str(n) for n in seen["trees_per_seed"])
        rows.append(["boosters averaged", f"{seen['seeds']}, each grown with its own random seed ({each} trees)"])
    return rows


def _site_reading(site: dict[str, Any]) -> list[list[str]]:
    """How the site's data was read: each file's digest, layout, labels, what a stay is and what was set aside (cards
    of versions adapted before the FHIR layout was read have none of these)."""
    rows = []
    if len(site.get("file_sha256") or {}) > 1:
        rows.append(["file digests (sha256)", "; ".join(f"{k} {v}" for k, v in site["file_sha256"].items())])
    if "layout" in site:
        rows.append(["layout; labels", f"{site['layout']}; labels from {site['labels']}"])
    if "stay" in site:
        rows.append(["a stay", f"{site['stay']} ({site['patients']} patients)"])
    aside = {k: v for k, v in (site.get("set_aside") or {}).items() if v}
    if aside:
        rows.append(["set aside", "; ".join(f"{k}: {v}" for k, v in aside.items())])
    return rows


def adaptation_markdown(card: dict[str, Any]) -> list[str]:
    """The card.md section on local adaptation (empty for a version never adapted)."""
    rows = adaptation_rows(card)
    if not rows:
        return []
    return ["## Local adaptation", "", "| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]


EXPLANATION_HEADING = "## Global explanation"


def explanation_markdown(card: dict[str, Any]) -> list[str]:
    """The card.md section (empty when the card has no explanation)."""
    explanation = card.get("global_explanation")
    if not explanation:
        return []
    rows = [f"| {f['label']} | `{f['name']}` | {f['mean_abs_shap']:.4f} |" for f in explanation["features"]]
    return [
        EXPLANATION_HEADING,
        "",
        f"{explanation['method']}, over {explanation['rows']} rows of {explanation['rows_from'] or 'evaluation'} "
        f"(shap {explanation['shap_version']}). Larger means the feature moves this model's scores more, "
        "in either direction; it is not a causal effect.",
        "",
        "| feature | name | mean abs SHAP |",
        "|---|---|---|",
        *rows,
        "",
    ]
