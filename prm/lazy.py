"""Lazy package exports: a package's ``__getattr__`` that imports a submodule only when one of its names is used.

Keeps ``import prm.model`` (or ``prm.grpo``, ``prm.serve``) free of torch until something that needs it is
touched::

    _EXPORTS = {"PRMScorer": "scoring", "IGNORE_INDEX": "tags"}
    __all__ = sorted(_EXPORTS)
    __getattr__ = lazy_exports(__name__, _EXPORTS)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that resolves ``name`` from submodule ``exports[name]``."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    return __getattr__
