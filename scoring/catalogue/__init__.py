"""The model catalogue: one `ModelDefinition` per model, each in a module of this package.

Adding a model is one new module here (it calls `register`) plus its artifact. The modules are found
and imported once, on first use; `register` and `unregister` also serve tests that add a toy model.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading

from scoring.catalogue.definition import DataRequirements, ModelDefinition, Outcome, RuleSpec
from scoring.errors import ModelNotFound

__all__ = [
    "DataRequirements",
    "ModelDefinition",
    "Outcome",
    "RuleSpec",
    "definition",
    "definitions",
    "definition_of",
    "hook_definitions",
    "register",
    "unregister",
]

_MACHINERY = frozenset({"definition", "training"})
_DEFINITIONS: dict[str, ModelDefinition] = {}
_loaded = threading.Event()
_lock = threading.Lock()


def register(model: ModelDefinition) -> ModelDefinition:
    """Add (or replace) a model's definition; returns it so a module can keep a name for it."""
    _DEFINITIONS[model.name] = model
    return model


def unregister(name: str) -> None:
    """Remove a definition (tests that registered a toy model)."""
    _DEFINITIONS.pop(name, None)


def _load() -> None:
    if _loaded.is_set():
        return
    with _lock:
        for info in pkgutil.iter_modules(__path__):
            if info.name not in _MACHINERY and not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")
        _loaded.set()


def definitions() -> list[ModelDefinition]:
    """Every model, in display order."""
    _load()
    return sorted(_DEFINITIONS.values(), key=lambda m: (m.order, m.name))


def definition(name: str) -> ModelDefinition | None:
    """The definition of `name`, or None for a model the catalogue does not know."""
    _load()
    return _DEFINITIONS.get(name)


def hook_definitions(hook: str) -> list[ModelDefinition]:
    """The models bound to `hook`, in display order."""
    return [m for m in definitions() if hook in m.hooks]


def definition_of(name: str) -> ModelDefinition:
    """The definition of `name`; ModelNotFound (404) for a model the catalogue does not know."""
    found = definition(name)
    if found is None:
        raise ModelNotFound(f"No model named {name[:64]!r} is in the catalogue.", extra={"model": name[:64]})
    return found
