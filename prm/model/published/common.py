"""What the published-format scorers share: a checkpoint's small config files, read without loading weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["architectures", "has_token", "model_type", "name_of", "read_json"]


def read_json(folder: Path, name: str) -> dict[str, Any]:
    """``folder/name`` as a dict; {} when the file is missing or not a JSON object."""
    try:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def architectures(folder: Path) -> list[str]:
    """``config.json``'s ``architectures`` (e.g. ["Qwen2ForProcessRewardModel"])."""
    return [str(a) for a in read_json(folder, "config.json").get("architectures") or []]


def model_type(folder: Path) -> str:
    return str(read_json(folder, "config.json").get("model_type", ""))


def name_of(folder: Path) -> str:
    """The checkpoint's published name where the files say it (``_name_or_path``), else the folder's name;
    lower case, for matching known published ids."""
    named = read_json(folder, "config.json").get("_name_or_path") or ""
    return f"{named} {folder.name}".lower()


def has_token(folder: Path, token: str) -> bool:
    """Whether ``token`` is in the tokenizer's vocabulary or added tokens (tokenizer.json / tokenizer_config)."""
    tokenizer = read_json(folder, "tokenizer.json")
    if token in (tokenizer.get("model", {}).get("vocab") or {}):
        return True
    if any(t.get("content") == token for t in tokenizer.get("added_tokens") or []):
        return True
    added = read_json(folder, "tokenizer_config.json").get("added_tokens_decoder") or {}
    return any(isinstance(t, dict) and t.get("content") == token for t in added.values())
