"""Parameter counts for the FLOPs estimates of a search (2 x parameters x tokens, policy and PRM apart).

A loaded model is counted from its tensors; a model folder from its safetensors headers (no weights read);
a scorer from its model, or the sum of its members' (an ensemble reads every member). None where the count
cannot be known here (a hub id, a built-in checker with no model).
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

__all__ = ["parameter_count", "scorer_parameters"]


def _safetensors_parameters(folder: Path) -> int | None:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for file in files:
        with file.open("rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(size))
        total += sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__")
    return total


def parameter_count(model: Any) -> int | None:
    """Parameters of a loaded torch model, or of the safetensors checkpoint in a folder (None: unknown)."""
    if model is None:
        return None
    if hasattr(model, "parameters"):
        return sum(p.numel() for p in model.parameters())
    path = Path(str(model))
    return _safetensors_parameters(path) if path.is_dir() else None


def scorer_parameters(scorer: Any) -> int | None:
    """Parameters a scorer runs per token: its model's, or its members' summed (None: unknown or no model)."""
    members = getattr(scorer, "members", None)
    if members:
        counts = [scorer_parameters(member) for member in members]
        return sum(c for c in counts if c) or None
    return parameter_count(getattr(scorer, "model", None))
