"""What the published formats share without torch: a folder or hub id resolved to a local snapshot
(:func:`local_snapshot`; :func:`config_folder` for detection), and a checkpoint's small config files read
without loading weights: its architectures, the names it is published under (:func:`name_of`), its tokens,
whether it is one of the project's own formats or a causal LM, and :func:`detector`, which makes a test of
those files a format's ``detect`` that never raises."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["CONFIG_PATTERNS", "OWN_FILES", "architectures", "config_folder", "detector", "has_token", "is_causal_lm",
           "is_own_format", "local_snapshot", "model_type", "name_of", "read_json"]

CONFIG_PATTERNS = ["*.json", "*.model", "*.txt", "*.jinja", "*.py"]  # what detection may read, never weights
OWN_FILES = ("prm_config.json", "likelihood_head.json")  # folders of `prm train`: never a published format


def local_snapshot(spec: str | Path, patterns: Sequence[str], what: str = "files") -> Path:
    """``spec`` as a local folder: the folder itself, or a hub id's snapshot of the files matching ``patterns``
    (``huggingface_hub.snapshot_download``; nothing else is fetched). ValueError saying why not; ``what`` names
    the files in it ("not a local folder, and its {what} could not be fetched from the hub")."""
    folder = Path(spec)
    if folder.is_dir():
        return folder
    if folder.exists() or str(spec).count("/") != 1:
        raise ValueError(f"{spec}: not a folder or a hub id (owner/name)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(spec), allow_patterns=list(patterns)))
    except Exception as error:  # offline, unknown repo, gated: say which and why
        raise ValueError(f"{spec}: not a local folder, and its {what} could not be fetched from the hub "
                         f"({type(error).__name__}: {error})") from None


def config_folder(spec: str | Path) -> Path:
    """A local folder holding ``spec``'s config files: the folder itself, or a hub id's config-only snapshot
    (:data:`CONFIG_PATTERNS`; the weights are not fetched)."""
    return local_snapshot(spec, CONFIG_PATTERNS, "config files")


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
    """The names the checkpoint goes by, lower case, for matching published ids: ``config.json``'s
    ``_name_or_path`` (where it is a string), the folder's name and, for a hub-cache snapshot
    (``models--owner--name/snapshots/<commit>``), the repository folder's name."""
    named = read_json(folder, "config.json").get("_name_or_path")
    parts = [named if isinstance(named, str) else "", folder.name]
    if folder.parent.name == "snapshots":
        parts.append(folder.parent.parent.name)
    return " ".join(parts).lower()


def detector(test: Callable[[Path], bool]) -> Callable[[Path | str], bool]:
    """``test`` (of a folder's config files) as a format's ``detect``: the folder taken as a Path; False for what
    is not a folder, and False, never an exception, for malformed files (another format's, or none)."""

    @functools.wraps(test)
    def detect(folder: Path | str) -> bool:
        try:
            folder = Path(folder)
            return folder.is_dir() and test(folder)
        except (OSError, ValueError, TypeError, AttributeError):
            return False

    return detect


def is_own_format(folder: Path) -> bool:
    """A ``prm train`` folder (``prm_config.json`` or ``likelihood_head.json``): the project's own formats."""
    return any((folder / file).is_file() for file in OWN_FILES)


def is_causal_lm(folder: Path) -> bool:
    """A ``*ForCausalLM`` checkpoint that is not one of the project's own formats."""
    return not is_own_format(folder) and any(arch.endswith("ForCausalLM") for arch in architectures(folder))


def has_token(folder: Path, token: str) -> bool:
    """Whether ``token`` is in the tokenizer's vocabulary or added tokens (tokenizer.json / tokenizer_config);
    False, never an exception, for files of another shape."""
    tokenizer = read_json(folder, "tokenizer.json")
    model = tokenizer.get("model")
    vocab = model.get("vocab") if isinstance(model, dict) else None
    if isinstance(vocab, (dict, list)) and token in vocab:
        return True
    added = tokenizer.get("added_tokens")
    if isinstance(added, list) and any(isinstance(t, dict) and t.get("content") == token for t in added):
        return True
    decoder = read_json(folder, "tokenizer_config.json").get("added_tokens_decoder")
    return isinstance(decoder, dict) and any(isinstance(t, dict) and t.get("content") == token
                                             for t in decoder.values())
