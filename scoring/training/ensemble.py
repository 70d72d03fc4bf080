"""Seed-averaged XGBoost models written as one booster.

K boosters grown on the same rows with different random seeds (row and column subsampling) differ by chance;
their average margin has less of that variance (bagging: Breiman L. Bagging predictors. Mach Learn
1996;24:123-140). The average of K tree ensembles is itself a tree ensemble: every tree of every booster, each
leaf scaled by 1/K, over the shared intercept. So the averaged model is one ordinary booster: the ONNX export,
the booster JSON and exact TreeSHAP (additive over trees) all describe it unchanged, and serving does not know
it was several.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # xgboost itself is imported lazily, inside the functions that run it
    import xgboost as xgb


def boosters_average(boosters: Sequence[xgb.Booster]) -> xgb.Booster:
    """One booster whose margin is the mean of `boosters`' margins (same objective, features and intercept)."""
    import xgboost as xgb

    models = [json.loads(bytes(b.save_raw("json"))) for b in boosters]
    _check(models)
    first = models[0]
    trees = [_scaled(tree, 1.0 / len(models)) for m in models for tree in _model(m)["trees"]]
    for number, tree in enumerate(trees):
        tree["id"] = number
    model = _model(first)
    model |= {"trees": trees, "tree_info": [0] * len(trees), "iteration_indptr": list(range(len(trees) + 1))}
    model["gbtree_model_param"]["num_trees"] = str(len(trees))
    first["learner"]["attributes"] = {}  # no best_iteration of one member: every tree counts
    averaged = xgb.Booster()
    averaged.load_model(bytearray(json.dumps(first).encode()))
    return averaged


def _check(models: list[dict[str, Any]]) -> None:
    """Refuse what the average would get wrong: nothing to average, other than one-output gbtree models of one
    tree per round, or models that differ in intercept, features or objective."""
    if not models:
        raise ValueError("No boosters to average.")
    for m in models:
        booster, shape = m["learner"]["gradient_booster"], m["learner"]["learner_model_param"]
        if booster.get("name") != "gbtree" or int(shape.get("num_class", 0)) > 1 or int(shape.get("num_target", 1)) > 1:
            raise ValueError("Only single-output gbtree boosters can be averaged.")
        if int(booster["model"]["gbtree_model_param"].get("num_parallel_tree", 1)) != 1:
            raise ValueError("Only boosters of one tree per round can be averaged.")
    same = ("learner_model_param", "objective", "feature_names", "feature_types")
    if len({json.dumps([m["learner"].get(k) for k in same], sort_keys=True) for m in models}) != 1:
        raise ValueError("Only boosters with the same intercept, features and objective can be averaged.")


def _model(payload: dict[str, Any]) -> dict[str, Any]:
    model: dict[str, Any] = payload["learner"]["gradient_booster"]["model"]
    return model


def _scaled(tree: dict[str, Any], factor: float) -> dict[str, Any]:
    """The tree with its leaf values (and node weights) multiplied by `factor`; its splits unchanged."""
    leaves = [left == -1 for left in tree["left_children"]]
    conditions = [c * factor if leaf else c for c, leaf in zip(tree["split_conditions"], leaves, strict=True)]
    return {**tree, "split_conditions": conditions, "base_weights": [w * factor for w in tree["base_weights"]]}
