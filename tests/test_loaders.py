"""Problem loaders on the shared datasets, MATH's folder layout, hub ids (mocked) and malformed input."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from data import loaders
from data.jsonl import RecordError
from data.loaders import LoadReport, detect_problem_format, load_problems, load_problems_with_report
from data.records import Problem, from_dataset, to_dataset

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"

# name, split, rows in the file, skips expected by reason
SHARED_CASES = [
    ("math", "train", 7500, {"empty \\boxed{} answer in solution": 2}),
    ("math", "test", 5000, {}),
    ("math500", "test", 500, {}),
    ("gsm8k", "train", 7473, {}),
    ("gsm8k", "test", 1319, {}),
    ("aime2024", "test", 30, {}),
]

_cache: dict[tuple[str, str], tuple[list[Problem], LoadReport]] = {}


def shared(name: str, split: str) -> tuple[list[Problem], LoadReport]:
    path = SHARED / name / f"{split}.jsonl"
    if not path.exists():
        pytest.skip(f"{path} not found")
    if (name, split) not in _cache:
        _cache[name, split] = load_problems_with_report(path)
    return _cache[name, split]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "split", "rows", "skips"), SHARED_CASES)
def test_shared_dataset_counts(name: str, split: str, rows: int, skips: dict[str, int]) -> None:
    problems, report = shared(name, split)
    with (SHARED / name / f"{split}.jsonl").open(encoding="utf-8") as handle:
        assert sum(1 for line in handle if line.strip()) == rows
    assert dict(report.skipped) == skips
    assert len(problems) == report.loaded == rows - report.total_skipped
    assert len({p.id for p in problems}) == len(problems)
    assert all(p.answer.strip() == p.answer and p.answer for p in problems)
    assert {p.source for p in problems} == {name}


@pytest.mark.parametrize(("name", "split", "index", "pid", "answer", "level", "subject"), [
    ("gsm8k", "test", 0, "gsm8k/test/0", "18", None, None),
    ("gsm8k", "train", 0, "gsm8k/train/0", "72", None, None),
    ("gsm8k", "test", 146, "gsm8k/test/146", "2125", None, None),  # "#### 2,125"
    ("math", "test", 0, "test/algebra/1.json", "2", 3, "Algebra"),
    ("math500", "test", 0, "test/precalculus/807.json", r"\left( 3, \frac{\pi}{2} \right)", 2, "Precalculus"),
    ("aime2024", "test", 0, "aime2024/60", "204", None, None),
    ("aime2024", "test", 7, "aime2024/67", "25", None, None),  # "025" on disk
])  # fmt: skip
def test_known_answers(name: str, split: str, index: int, pid: str, answer: str, level: Any, subject: Any) -> None:
    problem = shared(name, split)[0][index]
    assert (problem.id, problem.answer, problem.level, problem.subject) == (pid, answer, level, subject)
    assert problem.problem and problem.solution


def test_gsm8k_answers_are_plain_numbers() -> None:
    for split in ("train", "test"):
        problems, _ = shared("gsm8k", split)
        assert all("," not in p.answer and isinstance(float(p.answer), float) for p in problems)
        assert all(p.solution.splitlines()[-1].replace(",", "") == f"#### {p.answer}" for p in problems)


def test_math_levels_and_skips_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    if not (SHARED / "math" / "train.jsonl").exists():
        pytest.skip(f"{SHARED / 'math' / 'train.jsonl'} not found")
    with caplog.at_level(logging.WARNING, logger="data.loaders"):
        problems, report = load_problems_with_report(SHARED / "math" / "train.jsonl")
    assert report.examples["empty \\boxed{} answer in solution"] == [
        f"{SHARED / 'math' / 'train.jsonl'} line 5342",
        f"{SHARED / 'math' / 'train.jsonl'} line 5344",
    ]
    assert "skipped 2 (empty \\boxed{} answer in solution)" in caplog.text
    assert sum(report.notes.values()) == 2  # two "Level ?" rows: level None, noted
    assert {p.level for p in problems} == {1, 2, 3, 4, 5, None}
    assert [p.id for p in problems if p.level is None] == ["train/geometry/377.json", "train/geometry/471.json"]


def test_math500_answers_match_math_test() -> None:
    math_test = {p.id: p for p in shared("math", "test")[0]}
    for p in shared("math500", "test")[0]:
        assert math_test[p.id].answer == p.answer and math_test[p.id].level == p.level


def test_builtin_names_resolve_to_local_copies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not SHARED.exists():
        pytest.skip("shared datasets not found")
    monkeypatch.setenv("PRM_MATH_DATASETS", str(tmp_path))
    (tmp_path / "gsm8k").mkdir()
    write_jsonl(tmp_path / "gsm8k" / "test.jsonl", [{"question": "1 + 1?", "answer": "1 + 1 = 2\n#### 2"}])
    assert [p.answer for p in load_problems("gsm8k")] == ["2"]  # $PRM_MATH_DATASETS first, split "test"
    assert len(load_problems("gsm8k", "train", limit=5)) == 5  # then ../shared/datasets
    assert load_problems("math500", limit=3) == shared("math500", "test")[0][:3]


def test_math_folder_layout(tmp_path: Path) -> None:
    root = tmp_path / "MATH"
    files = {
        "train/algebra/10.json": ("What is $5 + 5$?", "Level 1", "$5 + 5 = \\boxed{10}$."),
        "train/algebra/2.json": ("What is $1 + 1$?", "Level 2", "$1 + 1 = \\boxed{2}$."),
        "train/algebra/1.json": ("What is $0 + 1$?", "Level 3", "$0 + 1 = \\boxed{1}$."),
        "train/geometry/3.json": ("Draw a square.", "Level 4", "It has four equal sides."),
        "test/algebra/1.json": ("What is $2 + 2$?", "Level 5", "$\\boxed{4}$"),
    }
    for rel, (problem, level, solution) in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        row = {"problem": problem, "level": level, "type": "Algebra", "solution": solution}
        (root / rel).write_text(json.dumps(row))
    problems, report = load_problems_with_report(root, split="train")
    assert [p.id for p in problems] == ["train/algebra/1.json", "train/algebra/2.json", "train/algebra/10.json"]
    assert [(p.answer, p.level, p.subject, p.source) for p in problems][0] == ("1", 3, "Algebra", "MATH")
    assert dict(report.skipped) == {"no \\boxed{} answer in solution": 1}
    assert report.examples["no \\boxed{} answer in solution"] == [str(root / "train/geometry/3.json")]
    assert load_problems(root / "train") == problems
    assert load_problems(root / "train" / "algebra") == problems  # a subject folder keeps MATH's ids
    assert [p.id for p in load_problems(root, "test")] == ["test/algebra/1.json"]
    with pytest.raises(ValueError, match="several splits"):
        load_problems(root)
    (root / "train/algebra/11.json").write_text('{"problem": "x", ')
    with pytest.raises(RecordError, match=r"train/algebra/11\.json: not valid JSON"):
        load_problems(root, "train")


class FakeHub:
    """Stands in for ``datasets.load_dataset``: records the call, returns an in-memory Dataset."""

    def __init__(self, rows: list[dict[str, Any]], split_name: str | None = None) -> None:
        self.rows, self.split_name, self.calls = rows, split_name, []

    def __call__(self, path: str, name: str | None = None, split: str | None = None) -> Any:
        import datasets

        self.calls.append((path, name, split))
        dataset = datasets.Dataset.from_list(self.rows)
        return datasets.DatasetDict({self.split_name: dataset}) if split is None else dataset


GSM8K_ROWS = [{"question": "Q1", "answer": "a\n#### 1,000"}, {"question": "Q2", "answer": "b\n#### 7"}]
MATH_ROWS = [{"problem": "P", "level": "Level 2", "type": "Algebra", "solution": "so \\boxed{\\frac{1}{2}}"}]
AIME_ROWS = [{"id": 60, "problem": "P", "solution": "S", "answer": "204", "url": "u", "year": "2024"}]


@pytest.mark.parametrize(("spec", "split", "rows", "call", "ids", "answers"), [
    ("openai/gsm8k", "test", GSM8K_ROWS, ("openai/gsm8k", "main", "test"),
     ["openai/gsm8k/test/0", "openai/gsm8k/test/1"], ["1000", "7"]),
    ("HuggingFaceH4/MATH-500", "test", [dict(MATH_ROWS[0], answer="7", subject="Algebra", unique_id="test/a/1.json")],
     ("HuggingFaceH4/MATH-500", None, "test"), ["test/a/1.json"], ["7"]),
    ("aime2024", None, AIME_ROWS, ("HuggingFaceH4/aime_2024", None, "train"), ["aime2024/60"], ["204"]),
    ("math", "train", MATH_ROWS, ("DigitalLearningGmbH/MATH-lighteval", None, "train"), ["math/train/0"],
     ["\\frac{1}{2}"]),
    ("gsm8k", "train", GSM8K_ROWS, ("openai/gsm8k", "main", "train"), ["gsm8k/train/0", "gsm8k/train/1"],
     ["1000", "7"]),
])  # fmt: skip
def test_hub_ids(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spec: str, split: Any, rows: Any, call: Any, ids: Any, answers: Any
) -> None:
    import datasets

    hub = FakeHub(rows)
    monkeypatch.setattr(datasets, "load_dataset", hub)
    monkeypatch.setattr(loaders, "local_dataset_dirs", lambda: [tmp_path])  # no local copies
    problems = load_problems(spec, split)
    assert hub.calls == [call]
    assert [p.id for p in problems] == ids and [p.answer for p in problems] == answers


def test_hub_split_none(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", FakeHub(AIME_ROWS, split_name="train"))
    assert [p.id for p in load_problems("someone/aime-like")] == ["someone/aime-like/60"]
    two = datasets.DatasetDict({name: datasets.Dataset.from_list(AIME_ROWS) for name in ("a", "b")})
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: two)
    with pytest.raises(ValueError, match="has splits a, b: pass split="):
        load_problems("someone/two-splits")


GOOD_GSM8K = json.dumps({"question": "Q", "answer": "x\n#### 3"})


@pytest.mark.parametrize(("lines", "error", "match"), [
    ([GOOD_GSM8K, '{"question": "Q", "answer": "x\\n####'], RecordError, r"line 2: not valid JSON"),
    ([GOOD_GSM8K, {"answer": "x\n#### 3"}], RecordError, r"line 2: missing field 'question'"),
    ([GOOD_GSM8K, {"question": ["Q"], "answer": "#### 3"}], RecordError, r"line 2: field 'question' should be str"),
    ([{"problem": "P", "solution": "\\boxed{1}", "level": [3]}], RecordError, r"line 1: field 'level' should be"),
    ([{"problem": "P", "solution": {"a": 1}}], RecordError, r"line 1: field 'solution' should be str, got dict"),
    ([{"problem": "P", "answer": "1", "id": [1]}], RecordError, r"line 1: field 'id' should be str, got list"),
    ([GOOD_GSM8K, "[1, 2]"], RecordError, r"line 2: expected a JSON object"),
    ([{"prompt": "P", "text": "T"}], ValueError, r"cannot tell the problem format from columns \['prompt', 'text'\]"),
])  # fmt: skip
def test_malformed_input_names_line_and_field(tmp_path: Path, lines: list[Any], error: type, match: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(error, match=match):
        load_problems(path)


def test_unconvertible_rows_are_skipped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [GOOD_GSM8K, {"question": "Q", "answer": "no final line"}, {"question": "Q", "answer": "#### "}]
    with caplog.at_level(logging.WARNING, logger="data.loaders"):
        problems, report = load_problems_with_report(write_jsonl(tmp_path / "test.jsonl", rows))
    assert len(problems) == report.loaded == 1
    assert dict(report.skipped) == {"no '####' final answer line": 1, "empty answer after '####'": 1}
    assert "bad.jsonl" not in caplog.text and "test.jsonl line 2" in caplog.text


@pytest.mark.parametrize(("columns", "fmt"), [
    (["question", "answer"], "gsm8k"),
    (["problem", "level", "type", "solution", "unique_id"], "math"),
    (["problem", "solution", "answer", "subject", "level", "unique_id"], "math500"),
    (["id", "problem", "solution", "answer", "url"], "aime"),
    (["id", "problem", "answer", "source", "solution"], "problem"),
])  # fmt: skip
def test_format_detection(columns: list[str], fmt: str) -> None:
    assert detect_problem_format(columns) == fmt


def test_explicit_format_and_own_records(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "mine.jsonl", [{"problem": "P", "solution": "so \\boxed{3}", "answer": "4"}])
    assert load_problems(path)[0].answer == "4"  # detected as a problem/answer table
    assert load_problems(path, fmt="math")[0].answer == "3"
    with pytest.raises(ValueError, match="unknown format 'nope'"):
        load_problems(path, fmt="nope")
    own = write_jsonl(tmp_path / "own.jsonl", [{"id": "x/1", "problem": "P", "answer": "1", "source": "x", "k": 2}])
    assert load_problems(own) == [Problem("x/1", "P", "1", "x", extra={"k": 2})]
    with pytest.raises(FileNotFoundError):
        load_problems(tmp_path / "missing.jsonl")


@pytest.mark.parametrize(("name", "split"), [("math500", "test"), ("gsm8k", "test"), ("aime2024", "test")])
def test_dataset_round_trip(name: str, split: str) -> None:
    problems = shared(name, split)[0]
    dataset = to_dataset(problems)
    assert len(dataset) == len(problems)
    assert from_dataset(dataset, Problem) == problems
