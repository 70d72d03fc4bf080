"""Evaluation metrics: discrimination, calibration (ECE, Brier, reliability plot) and subgroup AUROC."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

F64 = npt.NDArray[np.float64]
ECE_BINS = 10


class SubgroupAuroc(TypedDict):
    """Discrimination within one subgroup: AUROC (None with one class only), rows and positive rows."""

    auroc: float | None
    n: int
    positives: int


def auroc(y: npt.NDArray[np.integer], p: F64) -> float | None:
    """Row-level AUROC, None when only one class is present."""
    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None


def auprc(y: npt.NDArray[np.integer], p: F64) -> float | None:
    """Average precision (area under the precision-recall curve)."""
    return float(average_precision_score(y, p)) if len(np.unique(y)) == 2 else None


def reliability_bins(y: npt.NDArray[np.integer], p: F64, bins: int = ECE_BINS) -> list[dict[str, float | int]]:
    """Equal-width probability bins that hold rows: edges, mean predicted probability, observed frequency, rows."""
    idx = np.minimum((p * bins).astype(int), bins - 1)
    out: list[dict[str, float | int]] = []
    for b in range(bins):
        m = idx == b
        if m.any():
            out.append(
                {
                    "lower": b / bins,
                    "upper": (b + 1) / bins,
                    "predicted": float(p[m].mean()),
                    "observed": float(y[m].mean()),
                    "n": int(m.sum()),
                }
            )
    return out


def ece(y: npt.NDArray[np.integer], p: F64, bins: int = ECE_BINS) -> float:
    """Expected calibration error over equal-width probability bins."""
    return float(
        sum(
            int(b["n"]) / len(p) * abs(float(b["observed"]) - float(b["predicted"]))
            for b in reliability_bins(y, p, bins)
        )
    )


def brier(y: npt.NDArray[np.integer], p: F64) -> float:
    """Brier score."""
    return float(brier_score_loss(y, p))


def reliability_png(y: npt.NDArray[np.integer], p: F64, path: Path, title: str, bins: int = ECE_BINS) -> None:
    """Write a reliability diagram (observed vs predicted by bin) to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = reliability_bins(y, p, bins)
    xs, ys, ns = ([b[k] for b in points] for k in ("predicted", "observed", "n"))
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=90)
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfect")
    ax.plot(xs, ys, "o-", color="#1f4e79", label="model")
    for x, yv, n in zip(xs, ys, ns, strict=True):
        ax.annotate(f"{n}", (x, yv), fontsize=6, xytext=(3, -8), textcoords="offset points")
    ax.set(xlabel="predicted probability", ylabel="observed frequency", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def subgroup_auroc(
    y: npt.NDArray[np.integer], p: F64, groups: dict[str, npt.NDArray[np.bool_]]
) -> dict[str, SubgroupAuroc]:
    """AUROC and size of every subgroup mask."""
    return {
        name: {"auroc": auroc(y[m], p[m]), "n": int(m.sum()), "positives": int(y[m].sum())}
        for name, m in groups.items()
    }
