"""The training module of a catalogue model (its `trainer` "module:function"), for commands that need more of
it than the training function: the rows it explains or profiles a published version with."""

from __future__ import annotations

import importlib
from types import ModuleType

from django.core.management.base import CommandError

from scoring.catalogue import definition


def trainer_module(name: str) -> ModuleType:
    """The module of `name`'s training recipe; CommandError for a model without one."""
    model = definition(name)
    if model is None or not model.trainer:
        raise CommandError(f"No trainer for model {name!r}.")
    return importlib.import_module(model.trainer.partition(":")[0])
