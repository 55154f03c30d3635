"""``--data-parallel N`` (prm.parallel): shards of prm sample / prm score in their own processes, merged back in
order, each shard resumable; and the shard arithmetic (``--shard K/N``) they rest on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_policy import build_tiny_prm, write_problems

from data.synth import generate_problems
from prm.cli import main
from prm.parallel import Shard, gpu_groups, merge_interleaved, parse_shard, shard_folder, take_shard

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("text", "shard"), [(None, None), ("", None), ("0/1", Shard(0, 1)), ("3/4", Shard(3, 4))])
def test_parse_shard(text: str | None, shard: Shard | None) -> None:
    assert parse_shard(text) == shard


@pytest.mark.parametrize("text", ["4/4", "-1/2", "1", "a/b", "1/0", "1/2/3"])
def test_parse_shard_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


@pytest.mark.parametrize(("items", "count"), [(10, 3), (7, 7), (3, 5), (0, 2), (12, 4)])
def test_shards_partition_the_items_and_merge_back_in_order(items: int, count: int) -> None:
    parts = [list(take_shard(range(items), Shard(k, count))) for k in range(count)]
    assert sorted(x for part in parts for x in part) == list(range(items))
    assert merge_interleaved(parts) == list(range(items))
    assert list(take_shard(range(items), None)) == list(range(items))


def test_merge_refuses_a_short_shard() -> None:
    with pytest.raises(ValueError, match="shard 0 has 1 items"):
        merge_interleaved([[0], [1, 3], [2]])


@pytest.mark.parametrize(("visible", "count", "per", "groups"), [
    ("0,1,2,3", 2, 2, ["0,1", "2,3"]), ("4,5,6", 3, 1, ["4", "5", "6"]), ("", 2, 1, [None, None]),
    ("0,1,2,3", 4, 1, ["0", "1", "2", "3"]),
])
def test_gpu_groups(monkeypatch: pytest.MonkeyPatch, visible: str, count: int, per: int, groups: list) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpu_groups(count, per) == groups


def test_gpu_groups_refuse_too_few_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    with pytest.raises(ValueError, match="needs 4 GPUs; 3 visible"):
        gpu_groups(2, 2)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_sample_data_parallel_merges_in_problem_order_and_resumes(tmp_path: Path, tiny_policy: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    problems, out = write_problems(tmp_path / "problems.jsonl", 5), tmp_path / "samples.jsonl"
    args = ["sample", "--backend", "hf", "--model", str(tiny_policy), "--problems", str(problems), "--output",
            str(out), "--n", "2", "--max-new-tokens", "24", "--data-parallel", "2"]
    assert main(args) == 0
    rows = _lines(out)
    assert [(r["problem_id"], r["sample_idx"]) for r in rows] == [(f"p{i:03d}", k) for i in range(5) for k in (0, 1)]
    metrics = json.loads((tmp_path / "samples_metrics.json").read_text())
    assert metrics["samples"] == 10 and metrics["data_parallel"] == 2 and len(metrics["shards"]) == 2

    shards = shard_folder(out)  # a kill: shard 1 holds one whole problem and a torn line; no merged output yet
    shard1 = shards / "shard-1-of-2.jsonl"
    kept = shard1.read_text().splitlines(keepends=True)
    shard1.write_text("".join(kept[:2]) + kept[2][:15])
    shard0 = (shards / "shard-0-of-2.jsonl").read_bytes()
    out.unlink()
    assert main(args) == 0
    assert (shards / "shard-0-of-2.jsonl").read_bytes() == shard0  # nothing left to do there
    assert shard1.read_text().splitlines(keepends=True)[:2] == kept[:2]
    merged = _lines(out)
    assert [(r["problem_id"], r["sample_idx"]) for r in merged] == [(r["problem_id"], r["sample_idx"]) for r in rows]
    kept_ids = {"p000", "p001", "p002", "p004"}  # all but p003, which shard 1 sampled again
    assert [r for r in merged if r["problem_id"] in kept_ids] == [r for r in rows if r["problem_id"] in kept_ids]
    assert "resuming" in (shards / "shard-1-of-2.log").read_text()


@pytest.fixture(scope="module")
def scoring(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A tiny PRM and a samples file of 11 rows (uneven over 2 or 3 shards), problem text in each row."""
    problems = generate_problems(6, seed=3, split="test")
    folder = tmp_path_factory.mktemp("dp")
    rows = [{"problem_id": p.id, "sample_idx": k, "problem": p.problem,
             "text": p.solution if k == 0 else p.solution.replace("=", "= 1 +", 1)}
            for p in problems for k in range(2)][:11]
    samples = folder / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return build_tiny_prm(folder, problems), samples


def test_score_data_parallel_equals_one_process(tmp_path: Path, scoring: tuple[str, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    prm, samples = scoring
    base = ["score", "--samples", str(samples), "--prm", prm, "--device", "cpu", "--batch-size", "4"]
    assert main([*base, "--output", str(tmp_path / "one.jsonl")]) == 0
    assert main([*base, "--output", str(tmp_path / "dp.jsonl"), "--data-parallel", "3"]) == 0
    one, dp = _lines(tmp_path / "one.jsonl"), _lines(tmp_path / "dp.jsonl")
    assert [(r["problem_id"], r["sample_idx"]) for r in dp] == [(r["problem_id"], r["sample_idx"]) for r in one]
    for a, b in zip(dp, one, strict=True):  # other batches: padding may move the last digits
        assert a["step_scores"] == pytest.approx(b["step_scores"], abs=1e-5)
    assert json.loads((tmp_path / "dp_metrics.json").read_text())["rows"] == 11


def test_a_failed_shard_is_named_and_nothing_is_merged(tmp_path: Path, scoring: tuple[str, Path],
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    prm, samples = scoring
    rows = _lines(samples)
    rows[3]["steps"] = ["fine", 7]  # row 3 is shard 1's (of 2): that shard fails on it, shard 0 finishes
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "scored.jsonl"
    assert main(["score", "--samples", str(bad), "--prm", prm, "--device", "cpu", "--output", str(out),
                 "--data-parallel", "2"]) == 1
    assert not out.exists()
    assert "shard 1/2 exited 2" in caplog.text and "shard-1-of-2.log" in caplog.text
    log = (shard_folder(out) / "shard-1-of-2.log").read_text()
    assert "field 'steps[1]' should be str" in log
    assert len(_lines(shard_folder(out) / "shard-0-of-2.jsonl")) == 6


def test_data_parallel_with_a_shard_is_refused(scoring: tuple[str, Path]) -> None:
    prm, samples = scoring
    assert main(["score", "--samples", str(samples), "--prm", prm, "--data-parallel", "2", "--shard", "0/2"]) == 2
    assert main(["sample", "--model", "m", "--problems", "p", "--output", "o.jsonl", "--shard", "2/2"]) == 2
