"""GGUF checkpoints (llama.cpp's single-file format) as model folders that transformers and vLLM load.

Every model option takes a ``.gguf`` file (``--model``, ``--prm``, ``--orm``, the backbone of ``prm train``,
GRPO's and search's policy): :func:`local_checkpoint` converts it once into a cached folder (float32
safetensors, ``config.json``, the tokenizer with its chat template) and returns that folder; anything else comes
back unchanged, so callers apply it to every model path::

    local_checkpoint("../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    # -> ~/.cache/prm-math/gguf/SmolLM2-135M-Instruct.Q4_1-b179c9523d0e6a0f

The weights are dequantized by transformers (``from_pretrained(folder, gguf_file=name)``, which needs the
``gguf`` package) and kept in float32: a Q4/Q8 block's value ``scale * q + min`` is exact there, not in bf16.
A model loaded from GGUF is marked quantized and refuses ``save_pretrained``, so its state dict is moved into a
fresh model of the same config. The folder is named by the file's SHA-256 and published with one
``os.replace``: a killed conversion leaves no half folder, and two processes converting at once both end with
the same complete one. ``PRM_MATH_CACHE`` moves the cache (default ``~/.cache/prm-math``).

Refused before any weight is read, each with the file in the message: a missing file, a missing ``gguf``
package, an architecture transformers cannot read from GGUF, a tensor type with no dequantizer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["cache_root", "convert_gguf", "gguf_problem", "is_gguf", "local_checkpoint"]

logger = logging.getLogger(__name__)

SOURCE_FILE = "gguf_source.json"  # written into every converted folder: where it came from
_UNQUANTIZED = {"F32", "F16"}  # read without a dequantizer
_LOCK = threading.Lock()  # one conversion at a time per process (threads asking for the same file wait)


def is_gguf(name_or_path: str | Path) -> bool:
    """Whether a model option names a GGUF file (by its suffix; the file is checked on conversion)."""
    return str(name_or_path).lower().endswith(".gguf")


def local_checkpoint(name_or_path: str | Path) -> str:
    """``name_or_path`` unchanged, or for a ``.gguf`` file its converted folder (converted on first use)."""
    if not is_gguf(name_or_path):
        return str(name_or_path)
    return str(convert_gguf(Path(name_or_path)))


def cache_root() -> Path:
    """Where converted folders live: ``$PRM_MATH_CACHE/gguf`` (default ``~/.cache/prm-math/gguf``)."""
    base = os.environ.get("PRM_MATH_CACHE") or Path.home() / ".cache" / "prm-math"
    return Path(base) / "gguf"


def convert_gguf(path: Path, cache: Path | None = None) -> Path:
    """The converted folder of the GGUF file ``path`` (made on first use; ValueError when it cannot be)."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"{path}: no such GGUF file")
    cache = cache or cache_root()
    with _LOCK:
        key = _content_key(path, cache)
        target = cache / f"{path.stem}-{key}"
        if (target / SOURCE_FILE).is_file():
            return target
        problem = gguf_problem(path)
        if problem:
            raise ValueError(f"{path}: {problem}")
        start = time.perf_counter()
        _publish(path, target, key)
        logger.info("converted %s into %s in %.1f s", path, target, time.perf_counter() - start)
        return target


def gguf_problem(path: Path) -> str | None:
    """Why transformers cannot read ``path`` (the gguf package missing, its architecture, a tensor type), or None."""
    try:
        import gguf
        from gguf.quants import _type_traits
    except ImportError:
        return "reading a GGUF file needs the 'gguf' package: pip install 'prm-math[gguf]' (or 'gguf>=0.10')"
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    try:
        reader = gguf.GGUFReader(str(path))
        field = reader.fields["general.architecture"]
        architecture = bytes(field.parts[field.data[0]]).decode("utf-8")
    except (KeyError, ValueError, IndexError, OSError) as error:
        return f"not a readable GGUF file ({type(error).__name__}: {error})"
    readable = set(GGUF_SUPPORTED_ARCHITECTURES) - {"general", "tokenizer"}
    if architecture not in readable:
        return (f"architecture {architecture!r} cannot be read from GGUF by this transformers; readable: "
                f"{', '.join(sorted(readable))}")
    supported = _UNQUANTIZED | {kind.name for kind in _type_traits}
    unsupported = sorted({t.tensor_type.name for t in reader.tensors} - supported)
    if unsupported:
        example = next(t.name for t in reader.tensors if t.tensor_type.name in unsupported)
        return (f"tensor type(s) {', '.join(unsupported)} (e.g. {example}) have no dequantizer in the gguf "
                f"package; supported: {', '.join(sorted(supported))}")
    return None


def _content_key(path: Path, cache: Path) -> str:
    """The first 16 hex digits of the file's SHA-256, remembered per (path, size, mtime) so it is hashed once."""
    stat = path.stat()
    stamp = hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:24]
    memo = cache / "keys" / stamp
    if memo.is_file():
        return memo.read_text(encoding="utf-8").strip()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    key = digest.hexdigest()[:16]
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_text(key + "\n", encoding="utf-8")
    return key


def _publish(path: Path, target: Path, key: str) -> None:
    """Convert into a temporary folder beside ``target``, then move it there in one step."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would hide the published folder from other users of a shared cache
    try:
        source = {**_convert_into(path, tmp), "sha256_16": key}
        (tmp / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
        try:
            os.replace(tmp, target)
        except OSError:  # another process published the same file first: keep its (identical) folder
            if not (target / SOURCE_FILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _convert_into(path: Path, folder: Path) -> dict[str, Any]:
    """Dequantize ``path`` into a fresh float32 model saved in ``folder`` with its tokenizer; what was done."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    config = loaded.config
    if tokenizer.model_max_length > 10**9:  # GGUF carries no tokenizer limit: the model's context, as HF repos say
        tokenizer.model_max_length = config.max_position_embeddings
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # else save_pretrained refuses the config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    tied = getattr(config, "tie_word_embeddings", False)
    missing = [key for key in missing if not (tied and key == "lm_head.weight")]
    if missing or unexpected:
        raise ValueError(f"{path}: the GGUF weights do not fit {type(fresh).__name__} (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
    fresh.tie_weights()
    fresh.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))  # read back by the transformers that wrote it (and vLLM beside it)
    import transformers

    return {"gguf": str(path), "architecture": config.model_type,
            "dtype": "float32", "parameters": sum(p.numel() for p in fresh.parameters()),
            "transformers": transformers.__version__}
