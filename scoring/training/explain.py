"""The model card's global explanation: mean |SHAP| per feature over evaluation rows, with shap.TreeExplainer.

Training-time only (shap is never imported on the request path: serving explains one patient with
XGBoost's own `pred_contribs`, which gives the same exact TreeSHAP values). The card JSON keeps the
numbers (`global_explanation`), card.md a table, and `explanation.png` a bar chart of the largest.
`explanation_add` gives an already published folder the same, leaving model.onnx and booster.json
untouched (their checksums are registered).
Method: Lundberg et al., "From local explanations to global understanding with explainable AI for
trees", Nat Mach Intell 2020 (https://doi.org/10.1038/s42256-019-0138-9).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from scoring.artifact import EXPLANATION_PNG
from scoring.catalogue import definitions

if TYPE_CHECKING:  # xgboost itself is imported lazily, inside the functions that run it
    import xgboost as xgb

FIGURE_FEATURES = 15  # bars in the figure; the card JSON and Markdown list every feature
_LABELS = {f.name: f.label for m in definitions() for f in m.features}


def global_explanation(
    booster: xgb.Booster, rows: npt.NDArray[np.float32], features: list[str], rows_from: str | None
) -> dict[str, Any]:
    """Mean |SHAP| (log-odds) of each feature over `rows`, largest first."""
    import shap

    values = np.asarray(shap.TreeExplainer(booster).shap_values(rows), dtype=np.float64)
    mean_abs = np.abs(values).mean(axis=0)
    ranked = sorted(zip(features, mean_abs, strict=True), key=lambda item: -item[1])
    return {
        "method": "mean |SHAP value| per feature (shap.TreeExplainer, exact TreeSHAP), in log-odds",
        "shap_version": shap.__version__,
        "rows": int(len(rows)),
        "rows_from": rows_from or "",
        "features": [
            {"name": name, "label": _LABELS.get(name, name), "mean_abs_shap": round(float(v), 6)} for name, v in ranked
        ],
    }


def explanation_png(explanation: dict[str, Any], path: Path, title: str) -> None:
    """A horizontal bar chart of the FIGURE_FEATURES largest mean |SHAP| values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = explanation["features"][:FIGURE_FEATURES][::-1]
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=90)
    ax.barh([f["label"] for f in top], [f["mean_abs_shap"] for f in top], color="#1f4e79")
    ax.set(xlabel="mean |SHAP value| (log-odds)", title=title)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def explanation_write(
    card: dict[str, Any], booster: xgb.Booster, rows: npt.NDArray[np.float32], out_dir: Path, rows_from: str | None
) -> None:
    """Compute the explanation into `card` and draw its figure under `out_dir`."""
    card["global_explanation"] = global_explanation(booster, rows, list(card["features"]), rows_from)
    explanation_png(
        card["global_explanation"],
        out_dir / EXPLANATION_PNG,
        f"{card['title']} {card.get('version', '')}: what drives the score",
    )
