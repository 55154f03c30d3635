"""GGUF files as model options (prm.gguf): converted once into a folder that loads like the GGUF itself, reused,
refused with the reason before any weight is read, and accepted by every command's model options.

The files are tiny llama GGUFs written by the gguf package in llama.cpp's layout (tests/gguf_helpers.py);
tests/test_real_model.py converts the real SmolLM2 file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from gguf_helpers import write_tiny_gguf

import prm.gguf
from prm.cli import convert_model_options, main
from prm.gguf import SOURCE_FILE, convert_gguf, local_checkpoint
from prm.lm import load_lm

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("PRM_MATH_CACHE", str(root))
    return root / "gguf"


@pytest.mark.parametrize("tensor_type", ["F32", "F16", "Q8_0"])
def test_the_converted_folder_computes_what_the_gguf_file_does(tmp_path: Path, cache: Path, tensor_type: str) -> None:
    from transformers import AutoModelForCausalLM

    path = write_tiny_gguf(tmp_path / f"tiny-{tensor_type}.gguf", tensor_type)
    folder = Path(local_checkpoint(path))
    assert folder.parent == cache and folder.name.startswith(f"tiny-{tensor_type}-")
    assert {"config.json", "model.safetensors", "tokenizer.json", SOURCE_FILE} <= {p.name for p in folder.iterdir()}
    model, tokenizer = load_lm(folder, torch.float32)
    reference = AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=path.name, dtype=torch.float32)
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2+3?"}], add_generation_prompt=True)
    ids = torch.tensor([ids["input_ids"] if hasattr(ids, "keys") else ids])  # a BatchEncoding in transformers 5
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reference(ids).logits)  # the same float32 weights
    assert tokenizer.decode(ids[0]) == "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"
    assert (tokenizer.eos_token, tokenizer.pad_token) == ("<|im_end|>", "<|im_end|>")
    assert tokenizer.model_max_length == 256  # the model's context, not transformers' "no limit" sentinel
    source = json.loads((folder / SOURCE_FILE).read_text())
    assert source["gguf"] == str(path.resolve()) and source["dtype"] == "float32"


def test_a_second_use_reuses_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    first = local_checkpoint(path)

    def no_second_conversion(*args: object) -> None:
        raise AssertionError("converted twice")

    monkeypatch.setattr(prm.gguf, "_convert_into", no_second_conversion)
    assert local_checkpoint(str(path)) == first


def test_other_model_names_pass_through_unchanged() -> None:
    for name in ("runs/policy-default", "HuggingFaceTB/SmolLM2-135M-Instruct", "step_checker"):
        assert local_checkpoint(name) == name


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: write_tiny_gguf(p, "F64"), r"tensor type\(s\) F64 \(e\.g\. token_embd\.weight\) have no dequantizer"),
    (lambda p: write_tiny_gguf(p, architecture="mystery"), r"architecture 'mystery' cannot be read from GGUF"),
    (lambda p: p.write_bytes(b"GGUF but not really"), r"not a readable GGUF file"),
    (lambda p: None, r"no such GGUF file"),
])
def test_files_that_cannot_be_converted_are_refused_naming_the_file_and_why(
        tmp_path: Path, cache: Path, make: object, message: str) -> None:
    path = tmp_path / "bad.gguf"
    make(path)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message) as error:
        local_checkpoint(path)
    assert str(path) in str(error.value)
    assert not any(p.name.startswith(("bad", ".bad")) for p in cache.glob("*"))  # nothing half written


def test_a_missing_gguf_package_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    monkeypatch.setitem(sys.modules, "gguf", None)  # import gguf now raises ImportError
    with pytest.raises(ValueError, match=r"needs the 'gguf' package: pip install 'prm-math\[gguf\]'"):
        local_checkpoint(path)


def test_a_conversion_that_dies_leaves_no_folder(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_tiny_gguf(tmp_path / "tiny.gguf")

    def dies_halfway(source: Path, folder: Path) -> dict:
        (folder / "config.json").write_text("{}")
        raise OSError("disk full")

    monkeypatch.setattr(prm.gguf, "_convert_into", dies_halfway)
    with pytest.raises(OSError, match="disk full"):
        convert_gguf(path)
    assert [p.name for p in cache.iterdir()] == ["keys"]  # no target, no temporary folder
    monkeypatch.undo()
    monkeypatch.setenv("PRM_MATH_CACHE", str(cache.parent))
    assert (Path(local_checkpoint(path)) / "config.json").read_text() != "{}"


def test_two_processes_converting_at_once_share_one_folder(tmp_path: Path, cache: Path) -> None:
    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    code = "import sys; from prm.gguf import local_checkpoint; print(local_checkpoint(sys.argv[1]))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = [subprocess.Popen([sys.executable, "-c", code, str(path)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    folders = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(folders) == 1
    assert sorted(p.name for p in cache.iterdir()) == sorted(["keys", Path(folders.pop()).name])


@dataclasses.dataclass
class _Options:
    model: str | None = None
    prm: str | None = None
    problems: str | None = None


def test_model_options_are_converted_and_nothing_else(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    folder = local_checkpoint(path)
    got = convert_model_options(_Options(model=str(path), prm=f"runs/prm,{path}", problems="data/x.gguf"))
    assert got == _Options(model=folder, prm=f"runs/prm,{folder}", problems="data/x.gguf")
    untouched = _Options(model="runs/policy")
    assert convert_model_options(untouched) is untouched


def test_prm_sample_takes_a_gguf_model(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps({"id": "p1", "problem": "What is 2+3?", "answer": "5"}) + "\n")
    out = tmp_path / "samples.jsonl"
    code = main(["sample", "--model", str(path), "--problems", str(problems), "--output", str(out), "--n", "2",
                 "--backend", "hf", "--max-new-tokens", "6", "--device", "cpu"])
    assert code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["sample_idx"] for row in rows] == [0, 1] and all(row["num_tokens"] >= 1 for row in rows)


def test_a_bad_gguf_model_option_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sample", "--model", str(tmp_path / "missing.gguf"), "--problems", "x.jsonl", "--output",
                 str(tmp_path / "out.jsonl")])
    assert code == 2
    assert "missing.gguf: no such GGUF file" in capsys.readouterr().err
