"""`prm search compare` (eval.search_compare, eval.search_report): hand-built search runs with known verdicts and
scores; accuracies per rule, paired differences, equal-token interpolation, difficulty bins, bad input, the CLI."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest

from data.jsonl import RecordError
from eval.search_compare import CompareConfig, SearchCompareResult, bin_columns, compare_runs, interpolation
from eval.search_report import fill_run_verdicts, read_pool, read_run
from prm.cli import main
from prm.commands.search_compare import parse_runs

PIDS = [f"p{i}" for i in range(10)]
# Per problem: solutions "ANSWER(c|w)SCORE", best search score first; 7 is the gold answer.
BON2 = {**dict.fromkeys(PIDS[:4], "7c.9 3w.5"), **dict.fromkeys(PIDS[4:6], "3w.9 7c.6"), "p6": "3w.8 4w.7",
        **dict.fromkeys(PIDS[7:], "7c.8 3w.2")}
BON4 = {**dict.fromkeys(PIDS[:4], "7c.9 3w.5 3w.4 3w.3"), **dict.fromkeys(PIDS[4:6], "3w.9 7c.6 7c.6 4w.1"),
        "p6": "3w.8 4w.7 5w.2 6w.1", **dict.fromkeys(PIDS[7:], "7c.8 7c.7 3w.2 7c.1")}
BEAM2 = {**dict.fromkeys(PIDS[:6], "7c.7"), "p6": "3w.9", **dict.fromkeys(PIDS[7:], "3w.6 7c.5")}
BEAM4 = {**dict.fromkeys(PIDS[:3], "7c.9 7c.8"), "p3": "3w.9 3w.8 7c.1", **dict.fromkeys(PIDS[4:6], "7c.9 7c.6"),
         "p6": "", **dict.fromkeys(PIDS[7:], "7c.9")}
# hand-counted correct picks out of 10 (rules over the listed solutions; majority ties go to the first solution)
EXPECTED = {
    ("best_of_n-prm-a", 2): {"prm_last": 0.7, "prm_vote_last": 0.7, "majority": 0.7, "oracle": 0.9},
    ("best_of_n-prm-a", 4): {"prm_last": 0.7, "prm_vote_last": 0.5, "majority": 0.5, "orm": 0.3, "oracle": 0.9},
    ("beam-prm-a", 2): {"prm_last": 0.6, "prm_vote_last": 0.6, "majority": 0.6, "oracle": 0.9},
    ("beam-prm-a", 4): {"prm_last": 0.8, "prm_vote_last": 0.8, "majority": 0.8, "oracle": 0.9},
}
POOL_PASS1 = [1.0, 0.25, 0.75, 0.5, 0.0, 0.75, 0.25, 0.5, 0.0, 1.0]


def solutions(spec: str, orm: bool = False) -> list[dict]:
    out = []
    for i, item in enumerate(spec.split()):
        answer, verdict, score = item[0], item[1], float(item[2:])
        solution = {"sample_idx": i, "text": f"step\n\nso \\boxed{{{answer}}}", "steps": ["step", "so"],
                    "answer": answer, "num_tokens": 50, "finish_reason": "stop", "step_scores": [0.95, None, score],
                    "score": score, "verdict": "correct" if verdict == "c" else "incorrect"}
        if orm:  # the outcome RM prefers the last solution
            solution["orm_step_scores"] = [0.5, 0.1 * (i + 1)]
        out.append(solution)
    return out


def write_run(path: Path, strategy: str, n: int, spec: dict[str, str], tokens: int, orm: bool = False) -> Path:
    rows = [{"problem_id": pid, "strategy": strategy, "n": n, "beam_width": 2, "aggregation": "last",
             "lookahead": 0, "solutions": solutions(spec[pid], orm),
             "compute": {"generated_tokens": tokens + (10 if k % 2 == 0 else -10), "prefix_tokens": 0,
                         "generate_requests": 1, "prm_tokens": 3 * tokens, "prm_calls": n, "iterations": 1,
                         "wall_s": 0.1, "policy_flops": 2e9 * tokens, "prm_flops": None}}
            for k, pid in enumerate(PIDS)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    meta = {"model": "/models/policy", "prm": "/models/prm-a", "strategy": strategy, "n": n, "aggregation": "last"}
    path.with_name(path.name + ".meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return path


def write_pool(path: Path) -> Path:
    rows = []
    for i, (pid, pass1) in enumerate(zip(PIDS, POOL_PASS1, strict=True)):
        for k in range(4):  # pass@1 = share correct; every sample of p_i scores 1 - i/10 (deployable order p0..p9)
            rows.append({"problem_id": pid, "sample_idx": k, "text": "x", "verdict": "correct" if k < 4 * pass1
                         else "incorrect", "step_scores": [0.9, 1 - i / 10]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("search")
    return {"bon2": write_run(root / "bon2.jsonl", "best_of_n", 2, BON2, 200),
            "bon4": write_run(root / "bon4.jsonl", "best_of_n", 4, BON4, 400, orm=True),
            "beam2": write_run(root / "beam2.jsonl", "beam", 2, BEAM2, 300),
            "beam4": write_run(root / "beam4.jsonl", "beam", 4, BEAM4, 600),
            "pool": write_pool(root / "pool.jsonl")}


@pytest.fixture(scope="module")
def result(files: dict[str, Path]) -> SearchCompareResult:
    runs = [read_run(files[name]) for name in ("bon2", "bon4", "beam2", "beam4")]
    return compare_runs(runs, CompareConfig(bootstrap=500), read_pool(files["pool"]))


def point(result: SearchCompareResult, name: str, n: int):
    return next(p for p in result.method(name).points if p.n == n)


def test_accuracy_per_rule_and_budget(result: SearchCompareResult) -> None:
    for (label, n), rules in EXPECTED.items():
        for rule, accuracy in rules.items():
            p = point(result, f"{label}:{rule}", n)
            assert p.accuracy == pytest.approx(accuracy), (label, n, rule)
            assert p.low <= p.accuracy <= p.high
    assert {m.rule for m in result.oracle} == {"oracle"} and "oracle" not in {m.rule for m in result.methods}
    assert [p.n for p in result.method("best_of_n-prm-a:orm").points] == [4]  # orm scores only in the n=4 run
    assert result.baseline == "best_of_n-prm-a:prm_vote_last"
    assert any("1 problem(s) with no finished solution" in note for note in result.notes)


def test_compute_means(result: SearchCompareResult) -> None:
    p = point(result, "beam-prm-a:prm_last", 4)
    assert (p.tokens, p.prm_calls, p.prm_tokens, p.problems) == (600, 4, 1800, 10)
    assert p.flops == pytest.approx(2e9 * 600)  # policy FLOPs only: the PRM's are unknown (None)


def test_paired_difference_and_token_ratio(result: SearchCompareResult) -> None:
    by = {(c.method, c.n): c for c in result.comparisons}
    # beam n=4 is right wherever weighted best-of-N n=4 is, plus p0-p2: +0.3, never worse on a resample
    c = by[("beam-prm-a:prm_vote_last", 4)]
    assert c.difference == pytest.approx(0.3) and 0.0 <= c.low < 0.3 < c.high <= 0.7
    assert c.token_ratio == pytest.approx(1.5)
    c = by[("beam-prm-a:prm_vote_last", 2)]
    assert c.difference == pytest.approx(-0.1) and c.low < -0.1 < c.high
    assert ("best_of_n-prm-a:prm_vote_last", 2) not in by  # the baseline is not compared with itself
    # unpaired resampling of the same two vectors would often put the lower end below 0
    beam = result.per_problem[("beam-prm-a:prm_vote_last", 4)]
    bon = result.per_problem[("best_of_n-prm-a:prm_vote_last", 4)]
    assert np.array_equal(beam - bon, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0])


def test_equal_tokens_interpolates_in_log_tokens(result: SearchCompareResult) -> None:
    by = {(e.method, e.n): e for e in result.equal_tokens}
    e = by[("beam-prm-a:prm_vote_last", 2)]  # 300 tokens, between the baseline's 200 (0.7) and 400 (0.5)
    expected = 0.7 + (0.5 - 0.7) * math.log(300 / 200) / math.log(400 / 200)
    assert e.baseline_accuracy == pytest.approx(expected) and e.between == (2, 4)
    assert e.difference == pytest.approx(0.6 - expected) and e.low <= e.difference <= e.high
    assert by[("beam-prm-a:prm_vote_last", 4)].baseline_accuracy is None  # 600 tokens: no extrapolation
    same = by[("best_of_n-prm-a:prm_last", 2)]  # at a baseline budget: the baseline itself
    assert same.baseline_accuracy == pytest.approx(0.7) and same.difference == pytest.approx(0.0)
    assert interpolation([100, 400], 200) == (0, 1, pytest.approx(0.5))
    assert interpolation([100, 400], 50) is None and interpolation([100, 400], 100) == (0, 0, 0.0)
    # within 2% of an end: taken at that end (search and best-of-N at one n spend nearly equal tokens)
    assert interpolation([100, 400], 98.5) == (0, 0, 0.0) and interpolation([100, 400], 407) == (1, 1, 0.0)
    assert interpolation([100, 400], 97) is None and interpolation([100, 400], 409) is None


def test_bins_sizes_order_and_accuracy(result: SearchCompareResult) -> None:
    oracle, deployable = result.binnings
    assert (oracle.name, deployable.name) == ("oracle", "deployable")
    assert [b.problem_ids for b in oracle.bins] == [["p0", "p9"], ["p2", "p5"], ["p3", "p7"], ["p1", "p6"],
                                                    ["p4", "p8"]]  # bin 1 = highest pass@1; ties by problem id
    assert [b.value_range for b in oracle.bins] == [(1.0, 1.0), (0.75, 0.75), (0.5, 0.5), (0.25, 0.25), (0.0, 0.0)]
    assert [b.problem_ids for b in deployable.bins] == [PIDS[k:k + 2] for k in range(0, 10, 2)]
    prm4 = [next(p.accuracy for p in b.methods["best_of_n-prm-a:prm_last"] if p.n == 4) for b in oracle.bins]
    assert prm4 == [1.0, 0.5, 1.0, 0.5, 0.5]
    assert oracle.bins[2].best[4] == ["best_of_n-prm-a:prm_last"]
    prm4 = [next(p.accuracy for p in b.methods["best_of_n-prm-a:prm_last"] if p.n == 4) for b in deployable.bins]
    assert prm4 == [1.0, 1.0, 0.0, 0.5, 1.0]


def test_bin_columns_uneven_and_missing() -> None:
    values = {"a": 0.5, "b": 0.9, "c": math.nan, "d": 0.5, "e": 0.1}
    bins = bin_columns(values, ["a", "b", "c", "d", "e", "f"], 3)
    assert [list(b) for b in bins] == [[1, 0], [3], [4]]  # c (NaN) and f (absent) left out; ties by id


def test_bins_without_pool_use_the_largest_best_of_n(files: dict[str, Path]) -> None:
    runs = [read_run(files[name]) for name in ("bon2", "bon4", "beam4")]
    result = compare_runs(runs, CompareConfig(bootstrap=50))
    assert [b.problem_ids for b in result.binnings[0].bins] == [["p7", "p8"], ["p9", "p4"], ["p5", "p0"],
                                                                ["p1", "p2"], ["p3", "p6"]]
    assert any("no --pool" in note for note in result.notes)


def test_baseline_option_and_duplicates(files: dict[str, Path]) -> None:
    runs = [read_run(files["bon4"]), read_run(files["beam4"])]
    result = compare_runs(runs, CompareConfig(bootstrap=50, baseline="beam-prm-a:majority"))
    assert result.baseline == "beam-prm-a:majority"
    assert {c.method for c in result.comparisons} >= {"best_of_n-prm-a:prm_vote_last"}
    with pytest.raises(ValueError, match="no method beam-prm-a:orm"):
        compare_runs(runs, CompareConfig(baseline="beam-prm-a:orm"))
    with pytest.raises(ValueError, match="no run labelled 'dvts'"):
        compare_runs(runs, CompareConfig(baseline="dvts"))
    with pytest.raises(ValueError, match="name them apart"):
        compare_runs([read_run(files["bon4"]), read_run(files["bon4"])])
    assert read_run(files["bon4"], "mine").label == "mine"


def bad_file(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = {"problem_id": "p0", "strategy": "beam", "n": 2, "aggregation": "last", "solutions": solutions("7c.5"),
        "compute": {"generated_tokens": 10}}


@pytest.mark.parametrize(("row", "message"), [
    ({k: v for k, v in GOOD.items() if k != "solutions"}, r"line 2: missing field 'solutions'"),
    ({**GOOD, "solutions": [{k: v for k, v in solutions("7c.5")[0].items() if k != "verdict"}]},
     r"line 2: solutions\[0\]: missing field 'verdict' \(give --problems"),
    ({**GOOD, "compute": {}}, r"line 2: missing field 'compute.generated_tokens'"),
    ({**GOOD, "solutions": [{**solutions("7c.5")[0], "step_scores": [0.5, "high"]}]},
     r"line 2: solutions\[0\].step_scores: should be a list of numbers"),
    ({**GOOD, "n": 4}, r"line 2: field 'n' is 4, earlier rows have 2"),
    (GOOD, r"line 2: problem_id 'p0' again \(first on line 1\)"),
])
def test_bad_rows_name_file_line_and_field(tmp_path: Path, row: dict, message: str) -> None:
    path = bad_file(tmp_path, [GOOD, row if row is GOOD else {**row, "problem_id": "p1"}])
    with pytest.raises(RecordError, match=f"bad.jsonl {message}"):
        read_run(path)


def test_verdicts_from_gold_answers(tmp_path: Path) -> None:
    unverified = [{k: v for k, v in s.items() if k != "verdict"} for s in solutions("7c.9 3w.5")]
    path = bad_file(tmp_path, [{**GOOD, "solutions": unverified}, {**GOOD, "problem_id": "p1",
                                                                   "solutions": unverified}])
    run = read_run(path, need_verdict=False)
    with pytest.raises(RecordError, match=r"bad.jsonl line 2: solutions\[0\]: missing field 'verdict' and problem "
                                          r"'p1' is not in the problems file"):
        fill_run_verdicts([run], None, {"p0": "7"})
    run = read_run(path, need_verdict=False)
    assert fill_run_verdicts([run], None, {"p0": "7", "p1": "3"}) == 4
    assert [s["verdict"] for s in run.rows["p0"]["solutions"]] == ["correct", "incorrect"]
    assert [s["verdict"] for s in run.rows["p1"]["solutions"]] == ["incorrect", "correct"]


def test_parse_runs(tmp_path: Path) -> None:
    odd = tmp_path / "a=b.jsonl"
    odd.write_text("", encoding="utf-8")
    assert parse_runs(f"x.jsonl, mine=y.jsonl,{odd}") == [(None, "x.jsonl"), ("mine", "y.jsonl"), (None, str(odd))]


def test_cli_writes_the_report(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    runs = ",".join(str(files[name]) for name in ("bon2", "bon4", "beam2")) + f",beam-x={files['beam4']}"
    code = main(["search", "compare", "--runs", runs, "--pool", str(files["pool"]), "--out-dir", str(out),
                 "--bootstrap", "100", "--title", "Beam vs BoN"])
    assert code == 0
    assert {p.name for p in out.iterdir()} == {"search_compare.md", "search_compare.json", "search_compare.png",
                                               "search_bins.png"}
    markdown = capsys.readouterr().out
    assert markdown.startswith("# Beam vs BoN") and "INTERPOLATED" in markdown and "bin 1 = easiest" in markdown
    data = json.loads((out / "search_compare.json").read_text(encoding="utf-8"))
    assert data["baseline"] == "best_of_n-prm-a:prm_vote_last" and data["problems"] == 10
    assert {m["label"] for m in data["methods"]} == {"best_of_n-prm-a", "beam-prm-a", "beam-x"}
    assert [b["name"] for b in data["binnings"]] == ["oracle", "deployable"]


def test_cli_bad_input_exits_2(files: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = bad_file(tmp_path, [GOOD, {k: v for k, v in GOOD.items() if k != "solutions"}])
    with caplog.at_level(logging.ERROR):
        assert main(["search", "compare", "--runs", f"{files['bon2']},{path}", "--out-dir", str(tmp_path)]) == 2
    assert "bad.jsonl line 2: missing field 'solutions'" in caplog.text
    assert not (tmp_path / "search_compare.md").exists()


def test_cli_verifies_against_problems_and_pool_needs_verdicts(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    unverified = [{k: v for k, v in s.items() if k != "verdict"} for s in solutions("3w.9 7c.5 7c.4")]
    run = bad_file(tmp_path, [{**GOOD, "problem_id": f"probs/p{i}", "strategy": "best_of_n", "solutions": unverified}
                              for i in range(3)])
    problems = tmp_path / "probs.jsonl"  # the loader names problems <file stem>/<id>, as `prm search` saw them
    problems.write_text("".join(json.dumps({"id": f"p{i}", "problem": "q", "answer": "7"}) + "\n" for i in range(3)),
                        encoding="utf-8")
    assert main(["search", "compare", "--runs", str(run), "--problems", str(problems), "--out-dir",
                 str(tmp_path / "out"), "--bootstrap", "20"]) == 0
    data = json.loads((tmp_path / "out" / "search_compare.json").read_text(encoding="utf-8"))
    accuracy = {m["rule"]: m["points"][0]["accuracy"] for m in data["methods"]}
    assert accuracy == {"prm_last": 0.0, "prm_vote_last": 0.0, "majority": 1.0}  # 7 has two votes, 3 the top score
    assert any("9 verdicts computed" in note for note in data["notes"])
    pool = bad_file(tmp_path, [{"problem_id": "p0", "text": "x"}])
    with pytest.raises(RecordError, match=r"bad.jsonl line 1: missing field 'verdict'"):
        read_pool(pool)


def test_samples_as_best_of_n_runs(tmp_path: Path) -> None:
    """A scored sample pool becomes best-of-N runs: the first n samples (by sample_idx) of each problem at
    n = 1, 2, 4, their tokens summed; the rules pick among exactly those samples."""
    from eval.search_report import samples_as_runs

    rows = []
    for pid in ("a", "b"):
        for k in (3, 2, 1, 0):  # written out of order: the first n are chosen by sample_idx
            correct = (pid == "a" and k == 2) or (pid == "b" and k == 0)
            rows.append({"problem_id": pid, "sample_idx": k, "text": "x", "num_tokens": 10 + k,
                         "verdict": "correct" if correct else "incorrect", "step_scores": [0.5, 0.1 * (k + 1)]})
    path = tmp_path / "scored.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    runs = samples_as_runs(path, "bon", "last")
    assert [run.n for run in runs] == [1, 2, 4]
    assert all(run.strategy == "best_of_n" and run.label == "bon" for run in runs)
    assert [s["sample_idx"] for s in runs[1].rows["a"]["solutions"]] == [0, 1]
    assert runs[2].rows["b"]["compute"]["generated_tokens"] == 10 + 11 + 12 + 13
    result = compare_runs(runs, CompareConfig(bootstrap=50))
    accuracy = {(p.n): p.accuracy for p in result.method("bon:prm_last").points}
    # prm_last picks the highest sample_idx present: n=1 -> idx 0 (b right), n=2 -> idx 1 (none), n=4 -> idx 3
    assert accuracy == {1: 0.5, 2: 0.0, 4: 0.0}
    with pytest.raises(RecordError, match="only 4 samples"):
        samples_as_runs(path, "bon", "last", ns=[8])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"problem_id": "a", "text": "x", "verdict": "correct"}) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match="line 1: missing field 'num_tokens'"):
        samples_as_runs(bad, "bon", "last")
