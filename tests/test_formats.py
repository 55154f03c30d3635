"""The checkpoint-format registry (prm.model.formats): detection from config files before any weight loads,
errors that name the formats tried, the project's own format_version check, and --prm-format / --prm-options."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prm.cli import main
from prm.model.formats import SCORER_FORMATS, detect_format, load_scorer, parse_options


@pytest.fixture(scope="module")
def prm_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from prm.model.tiny import save_tiny_backbone, save_tiny_prm

    root = tmp_path_factory.mktemp("formats")
    texts = ["Problem: 2+3?\nSolution:\n2 + 3 = 5.\n\nSo \\boxed{5}."] * 8
    backbone = save_tiny_backbone(root / "backbone", texts)
    return {"backbone": backbone, "prm": save_tiny_prm(root / "prm", backbone)}


def test_the_own_format_is_detected(prm_folders: dict[str, Path]) -> None:
    assert detect_format(prm_folders["prm"]) == "prm_math"
    assert load_scorer(prm_folders["prm"], "prm_math", device="cpu").format == "prm_math"


def test_an_unknown_checkpoint_fails_before_weights_naming_the_formats(tmp_path: Path,
                                                                        prm_folders: dict[str, Path]) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    (tmp_path / "model.safetensors").write_bytes(b"not weights")  # never read: detection fails first
    with pytest.raises(ValueError) as error:
        load_scorer(tmp_path)
    for name in SCORER_FORMATS:
        assert name in str(error.value)
    assert "--prm-format" in str(error.value)
    with pytest.raises(ValueError, match="not a PRM checkpoint of any known format"):
        detect_format(prm_folders["backbone"])  # a plain causal LM is no PRM


def test_a_newer_own_format_is_refused(tmp_path: Path, prm_folders: dict[str, Path]) -> None:
    import shutil

    folder = Path(shutil.copytree(prm_folders["prm"], tmp_path / "prm"))
    config = json.loads((folder / "prm_config.json").read_text())
    (folder / "prm_config.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(ValueError, match="format_version 99 is newer than this version reads"):
        detect_format(folder)


@pytest.mark.parametrize(("spec", "message"), [
    ("no/such-model-xyz", "not a local folder, and its config files could not be fetched from the hub"),
    ("just-a-name", "not a folder or a hub id"),
])
def test_what_is_neither_folder_nor_reachable_hub_id(spec: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match=message):
        detect_format(spec)


def test_unknown_format_name(prm_folders: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="unknown PRM format 'qwen'; known: auto, prm_math_likelihood, prm_math"):
        load_scorer(prm_folders["prm"], "qwen")


@pytest.mark.parametrize(("text", "expected"), [
    (None, {}), ("", {}), ("reference=Qwen/Qwen2.5-Math-7B, beta=0.001", {"reference": "Qwen/Qwen2.5-Math-7B",
                                                                             "beta": "0.001"}),
    ("step_tag=ки,", {"step_tag": "ки"}),
])
def test_parse_options(text: str | None, expected: dict[str, str]) -> None:
    assert parse_options(text) == expected


def test_parse_options_names_a_bad_pair() -> None:
    with pytest.raises(ValueError, match="PRM option 'beta' in 'beta': expected KEY=VALUE"):
        parse_options("beta")


def test_prm_score_takes_the_format(tmp_path: Path, prm_folders: dict[str, Path],
                                    caplog: pytest.LogCaptureFixture) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"problem_id": "p", "sample_idx": 0, "problem": "2+3?", "text": "2 + 3 = 5."})
                       + "\n")
    base = ["score", "--samples", str(samples), "--prm", str(prm_folders["prm"]), "--device", "cpu"]
    assert main([*base, "--prm-format", "prm_math", "--output", str(tmp_path / "a.jsonl")]) == 0
    assert len(json.loads((tmp_path / "a.jsonl").read_text())["step_scores"]) == 1
    assert main([*base, "--prm-format", "skywork", "--output", str(tmp_path / "b.jsonl")]) == 2
    assert "unknown PRM format 'skywork'" in caplog.text


def test_prm_score_takes_a_dtype(tmp_path: Path, prm_folders: dict[str, Path]) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"problem_id": "p", "sample_idx": 0, "problem": "2+3?",
                                   "text": "2 + 3 = 5.\n\nSo \\boxed{5}."}) + "\n")
    scores = {}
    for dtype in ("float32", "bfloat16"):
        out = tmp_path / f"{dtype}.jsonl"
        assert main(["score", "--samples", str(samples), "--prm", str(prm_folders["prm"]), "--device", "cpu",
                     "--dtype", dtype, "--output", str(out)]) == 0
        scores[dtype] = json.loads(out.read_text())["step_scores"]
        metrics = json.loads(out.with_name(f"{dtype}_metrics.json").read_text())
        assert metrics["runtime"]["precision"] == dtype
    assert scores["bfloat16"] == pytest.approx(scores["float32"], abs=0.05)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny checkpoint in each published layout, built by that format's own test module."""
    from test_published_implicit import qwen_like_tokenizer, save_causal_lm
    from test_published_qwen_math_prm import save_qwen_math_prm
    from test_published_skywork_prm import save_skywork_prm

    root = tmp_path_factory.mktemp("published")
    tokenizer = qwen_like_tokenizer()
    return {
        "qwen2_5_math_prm": save_qwen_math_prm(root / "qwen"),
        "skywork_prm": save_skywork_prm(root / "skywork"),
        "implicit_prm": save_causal_lm(root / "EurusPRM-Stage2", tokenizer, 0, "PRIME-RL/EurusPRM-Stage2"),
    }


def test_each_published_layout_is_detected_as_its_format(published: dict[str, Path]) -> None:
    for name, folder in published.items():
        assert detect_format(folder) == name


def test_prm_score_auto_detects_a_published_prm(tmp_path: Path, published: dict[str, Path]) -> None:
    samples = tmp_path / "samples.jsonl"
    text = "2 + 3 = 5.\n\nSo the answer is \\boxed{5}."
    samples.write_text(json.dumps({"problem_id": "p", "sample_idx": 0, "problem": "What is 2+3?", "text": text})
                       + "\n")
    out = tmp_path / "scored.jsonl"
    folder = published["qwen2_5_math_prm"]
    argv = ["score", "--samples", str(samples), "--prm", str(folder), "--output", str(out), "--device", "cpu"]
    assert main(argv) == 0  # no --prm-format: detected from config.json
    expected = load_scorer(folder, device="cpu").score_batch([("What is 2+3?", text)])
    assert json.loads(out.read_text())["step_scores"] == pytest.approx(expected[0], abs=1e-6)


@pytest.mark.slow  # a vLLM engine in a subprocess: ~35 s on 2 cores
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed")
def test_prm_score_with_vllms_pooling_runner_matches_hf(tmp_path: Path, published: dict[str, Path]) -> None:
    """vLLM implements Qwen2ForProcessRewardModel natively: its STEP pooler gives the same step scores."""
    samples = tmp_path / "samples.jsonl"
    texts = ["2 + 3 = 5.\n\nSo the answer is \\boxed{5}.", "2 + 3 = 6.\n\n6 - 1 = 5.\n\nSo \\boxed{5}."]
    samples.write_text("".join(json.dumps({"problem_id": "p", "sample_idx": i, "problem": "What is 2+3?",
                                           "text": text}) + "\n" for i, text in enumerate(texts)))
    base = [sys.executable, "-m", "prm.cli", "score", "--samples", str(samples), "--prm",
            str(published["qwen2_5_math_prm"]), "--dtype", "float32"]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    for backend in ("hf", "vllm"):
        subprocess.run([*base, "--backend", backend, "--output", str(tmp_path / f"{backend}.jsonl")], env=env,
                       check=True, capture_output=True, timeout=600)
    hf, vllm = ([json.loads(line)["step_scores"] for line in (tmp_path / f"{b}.jsonl").read_text().splitlines()]
                for b in ("hf", "vllm"))
    assert [len(s) for s in vllm] == [2, 3]
    for got, want in zip(vllm, hf, strict=True):
        assert got == pytest.approx(want, abs=1e-4)  # measured: 1.2e-7 apart in float32 on CPU


def test_the_multi_gpu_load_path_scores_like_one_device(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        published: dict[str, Path],
                                                        prm_folders: dict[str, Path]) -> None:
    """``device="auto"`` with several GPUs loads with ``device_map="auto"`` (prm.runtime.device_map_for). Forced
    here on a CPU-only machine, transformers places every layer on the CPU: every loader takes the option and
    scores as a plain load does (the placement across GPUs itself needs GPUs)."""
    from test_published_math_shepherd import build_published

    import prm.model.likelihood
    import prm.model.published.backbone
    import prm.model.scoring
    import prm.runtime

    folders = {"qwen2_5_math_prm": published["qwen2_5_math_prm"], "skywork_prm": published["skywork_prm"],
               "prm_math": prm_folders["prm"], "math_shepherd": build_published(tmp_path / "math-shepherd-prm")}
    item = ("What is 2+3?", ["2 + 3 = 5.", "So the answer is \\boxed{5}."])
    plain = {name: load_scorer(folder, device="cpu", dtype="float32").score_batch([item])
             for name, folder in folders.items()}
    asked: list[str] = []

    def spread(device: str = "auto") -> str:
        asked.append(str(device))
        return "auto"

    for module in (prm.runtime, prm.model.published.backbone, prm.model.scoring, prm.model.likelihood):
        monkeypatch.setattr(module, "device_map_for", spread)
    for name, folder in folders.items():
        scorer = load_scorer(folder, device="cpu", dtype="float32")
        assert scorer.score_batch([item])[0] == pytest.approx(plain[name][0], abs=1e-6), name
    assert len(asked) == len(folders)
