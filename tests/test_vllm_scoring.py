"""vLLM scoring of the causal-LM PRM formats (Math-Shepherd, RLHFlow) for real, on CPU: the same step scores as
the transformers readout, through :func:`prm.model.formats.load_scorer` with ``backend="vllm"``.

Each format's tiny published-layout model is built by its own test module. One driver subprocess (vLLM spawns its
engine processes and needs a ``__main__`` guard) scores the same items with both backends and dumps them as JSON.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import test_published_math_shepherd as shepherd
import test_published_rlhflow as rlhflow

from prm.model.formats import SCORER_FORMATS, VLLM_SCORING, load_scorer

REPO = Path(__file__).resolve().parents[1]

DRIVER = '''
import json, sys
from prm.model.formats import load_scorer

def main(spec_json, out):
    result = {}
    for name, (folder, items) in json.loads(spec_json).items():
        for backend in ("hf", "vllm"):
            scorer = load_scorer(folder, device="cpu", dtype="float32", backend=backend, batch_size=2)
            try:
                result[f"{name}/{backend}"] = scorer.score_batch([tuple(item) for item in items])
                result[f"{name}/{backend}/max_length"] = scorer.max_length
            finally:
                if hasattr(scorer, "close"):
                    scorer.close()
    with open(out, "w") as handle:
        json.dump(result, handle)

if __name__ == "__main__":
    main(*sys.argv[1:])
'''


def _tail(log: str, chars: int = 6000) -> str:
    """The last ``chars`` of a driver log, with vLLM's ERROR lines from before them (an engine's root cause is
logged before the driver's own traceback)."""
    head, tail = log[:-chars], log[-chars:]
    errors = [line for line in head.splitlines() if " ERROR " in line]
    return "\n".join([*errors[:60], "...", tail]) if errors else tail


def _items(question: str, steps: list[str], other: tuple[str, list[str]]) -> list[list]:
    return [[question, steps], [other[0], other[1]], [question, steps[:1]], [question, []],
            [question, "\n\n".join(steps)]]


@pytest.mark.slow  # two vLLM engines in a subprocess: ~70 s on 2 cores
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed")
def test_vllm_scores_equal_the_transformers_readout(tmp_path: Path) -> None:
    other = ("Tom reads 12 pages a day for 5 days. How many pages?", ["He reads 12 * 5 = 60 pages.", "So 60."])
    spec = {
        "math_shepherd": (str(shepherd.build_published(tmp_path / "math-shepherd-mistral-7b-prm")),
                          _items(shepherd.QUESTION, [*shepherd.STEPS, "A literal ки tag inside a step."], other)),
        "rlhflow_prm": (str(rlhflow.build_published(tmp_path / "Llama3.1-8B-PRM-Deepseek-Data")),
                        _items(rlhflow.QUESTION, rlhflow.STEPS, other)),
    }
    driver, out = tmp_path / "driver.py", tmp_path / "scores.json"
    driver.write_text(DRIVER)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "PYTHONPATH": str(REPO)}
    # this test failed once in seven runs with its output lost: every outcome now carries the driver's whole log,
    # stdout and stderr in one stream (vLLM logs to stdout: an engine's root cause, e.g. "EngineCore failed to
    # start", is there, while stderr only says "see root cause above"), also kept in driver.log
    try:
        run = subprocess.run([sys.executable, str(driver), json.dumps(spec), str(out)], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900, errors="replace")
    except subprocess.TimeoutExpired as timeout:
        partial = timeout.output.decode(errors="replace") if isinstance(timeout.output, bytes) else timeout.output
        (tmp_path / "driver.log").write_text(partial or "")
        pytest.fail(f"the driver ran past 900 s; its log so far:\n{_tail(partial or '')}")
    (tmp_path / "driver.log").write_text(run.stdout)
    log = _tail(run.stdout)
    assert run.returncode == 0, f"driver exit {run.returncode}, scores written: {out.exists()}\n{log}"
    result = json.loads(out.read_text())
    for name in spec:
        hf, vllm = result[f"{name}/hf"], result[f"{name}/vllm"]
        detail = f"{name}: hf={hf} vllm={vllm}\n{log}"
        steps = len(spec[name][1][0][1])
        assert [len(s) for s in vllm] == [len(s) for s in hf] == [steps, 2, 1, 0, steps], detail
        for got, want in zip(vllm, hf, strict=True):
            assert got == pytest.approx(want, abs=1e-4), detail  # measured: < 2e-6 apart in float32 on CPU
        assert len({round(s, 3) for scores in hf for s in scores}) >= 4, detail  # the readouts differ by step
        assert result[f"{name}/vllm/max_length"] == result[f"{name}/hf/max_length"], detail


@pytest.mark.parametrize("format", [name for name, entry in SCORER_FORMATS.items() if "vllm" not in entry.backends])
def test_formats_without_a_vllm_scorer_refuse_it_before_loading(tmp_path: Path, format: str) -> None:
    with pytest.raises(ValueError, match=f"{format} PRMs score with --backend hf, not 'vllm'"):
        load_scorer(tmp_path, format, device="cpu", backend="vllm")  # an empty folder: nothing is read
    assert set(VLLM_SCORING) < {name for name, entry in SCORER_FORMATS.items() if "vllm" in entry.backends}


class _FakeLLM:
    """``vllm.LLM.encode`` for token_classify: one [tokens, 2] probability row per prompt token, less ``short``."""

    def __init__(self, short: int = 0) -> None:
        self.short = short

    def encode(self, prompts: list[dict], pooling_task: str, use_tqdm: bool) -> list:
        import torch

        rows = [torch.linspace(0, 1, len(p["prompt_token_ids"]) - self.short) for p in prompts]
        return [SimpleNamespace(outputs=SimpleNamespace(data=torch.stack([r, 1 - r], dim=1))) for r in rows]


def test_candidate_engine_reads_its_positions_and_refuses_a_short_pooled_output() -> None:
    from prm.model.published.vllm_pooling import CandidateEngine

    engine = CandidateEngine.__new__(CandidateEngine)  # no vLLM: read() only talks to .llm
    encoded = [([1, 2, 3, 4, 5], [1, None, 4]), ([7], [None]), ([], [])]
    engine.llm = _FakeLLM()
    assert engine.read(encoded) == [[pytest.approx(0.25), None, pytest.approx(1.0)], [None], []]
    # vLLM leaves prefix-cache hits out of an ALL pooler's rows: positions would silently shift, so read refuses
    engine.llm = _FakeLLM(short=2)
    with pytest.raises(RuntimeError, match="pooled 3 positions for a prompt of 5 tokens"):
        engine.read(encoded)
