"""PRM800K phase selection (data.prm800k; ``--phase`` of prm data build and prm train) on small files in the
real schema, built in tmp_path from the real rows of ``shared/datasets/real_schema_samples/prm800k.jsonl``.

Real rows (1-based lines): 1, 3, 4, 5 are phase 1 (``generation`` null), 2 (generation 6) and 6 (generation -1,
a screening question) phase 2. Lines 1, 2, 4, 5 are MATH-500 problems, so they go to the test files here, as in
PRM800K, whose test split is MATH-500.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED_DATASETS, read_jsonl

from data.jsonl import RecordError
from data.prm800k import file_phase, load_prm800k, load_stepwise_phased, phase_files
from prm.cli import build_parser, main
from prm.cli_config import config_from_args

REAL = SHARED_DATASETS / "real_schema_samples" / "prm800k.jsonl"
pytestmark = pytest.mark.skipif(not REAL.exists(), reason=f"real PRM800K sample not found at {REAL}")

PENCILS, SENATE, SECONDS, BOYS, TETRAHEDRON, SCREENING = range(6)  # 0-based indices of the real rows
LAYOUT = {"phase1_train": [SECONDS], "phase1_test": [PENCILS, BOYS, TETRAHEDRON],
          "phase2_train": [SCREENING], "phase2_test": [SENATE]}


@pytest.fixture(scope="module")
def real() -> list[dict[str, Any]]:
    return read_jsonl(REAL)


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def layout(folder: Path, real: list[dict[str, Any]], names: tuple[str, ...] = tuple(LAYOUT)) -> Path:
    for name in names:
        write_rows(folder / f"{name}.jsonl", [real[i] for i in LAYOUT[name]])
    return folder


def prompts(real: list[dict[str, Any]], indices: list[int]) -> list[str]:
    return [real[i]["question"]["problem"] for i in indices]


@pytest.mark.parametrize(("phase", "split", "expected", "phases"), [
    ("both", "train", [SECONDS, SCREENING], [1, 2]),
    ("1", "train", [SECONDS], [1]),
    ("2", "train", [SCREENING], [2]),
    ("both", "test", [PENCILS, BOYS, TETRAHEDRON, SENATE], [1, 1, 1, 2]),
    ("2", "test", [SENATE], [2]),
])  # fmt: skip
def test_folder_by_file_name(tmp_path: Path, real: list[dict[str, Any]], phase: str, split: str,
                             expected: list[int], phases: list[int]) -> None:
    rows, reports = load_prm800k(layout(tmp_path / "prm800k", real), phase, split)
    assert [r.prompt for r in rows] == prompts(real, expected)
    assert [r.extra["phase"] for r in rows] == phases
    assert [r.source for r in reports] == [f"phase{p}_{split} [all] (phase {p})" for p in sorted(set(phases))]


def test_file_phase_names() -> None:
    assert [file_phase(n) for n in ("phase1_train.jsonl", "a/phase2_test.jsonl", "phase3_train.jsonl",
                                    "phase1_train.json", "prm800k.jsonl")] == [1, 2, None, None, None]


def test_a_missing_phase_file_is_refused(tmp_path: Path, real: list[dict[str, Any]]) -> None:
    folder = layout(tmp_path / "p", real, ("phase1_train", "phase1_test", "phase2_test"))
    with pytest.raises(FileNotFoundError) as refused:
        load_prm800k(folder, "2")
    assert str(refused.value) == (
        f"{folder / 'phase2_train.jsonl'}: no such file, so --phase 2 finds no PRM800K phase-2 rows "
        f"({folder} holds phase1_test.jsonl, phase1_train.jsonl, phase2_test.jsonl)")
    assert [p.name for p, _ in phase_files(folder, "both")] == ["phase1_train.jsonl"]  # both: what is there
    only_test = layout(tmp_path / "q", real, ("phase2_test",))
    with pytest.raises(FileNotFoundError, match=r"phase1_train\.jsonl and .*phase2_train\.jsonl: no such file"):
        load_prm800k(only_test, "both")


def test_a_file_named_by_phase(tmp_path: Path, real: list[dict[str, Any]]) -> None:
    folder = layout(tmp_path / "p", real)
    rows, _ = load_prm800k(folder / "phase1_test.jsonl", "1")
    assert [r.prompt for r in rows] == prompts(real, [PENCILS, BOYS, TETRAHEDRON])
    with pytest.raises(ValueError) as refused:
        load_prm800k(folder / "phase1_test.jsonl", "2")
    assert str(refused.value) == (f"{folder / 'phase1_test.jsonl'}: a PRM800K phase-1 file by its name, "
                                  "but --phase 2 was asked")


def test_the_file_name_wins_over_generation(tmp_path: Path, real: list[dict[str, Any]]) -> None:
    path = write_rows(tmp_path / "phase1_train.jsonl", [real[SECONDS], real[SENATE]])
    rows, (report,) = load_prm800k(path, "1")
    assert [r.prompt for r in rows] == prompts(real, [SECONDS, SENATE])
    assert dict(report.notes) == {"'generation' says phase 2, the file name phase 1: kept": 1}
    assert report.examples["'generation' says phase 2, the file name phase 1: kept"] == [f"{path} line 2"]


@pytest.mark.parametrize(("phase", "expected"), [
    ("both", [PENCILS, SENATE, SECONDS, BOYS, TETRAHEDRON, SCREENING]),
    ("1", [PENCILS, SECONDS, BOYS, TETRAHEDRON]),
    ("2", [SENATE, SCREENING]),
])  # fmt: skip
def test_unnamed_file_by_generation(tmp_path: Path, real: list[dict[str, Any]], phase: str,
                                   expected: list[int]) -> None:
    rows, _ = load_prm800k(write_rows(tmp_path / "labels.jsonl", real), phase)
    assert [r.prompt for r in rows] == prompts(real, expected)


def test_unnamed_folder_by_generation(tmp_path: Path, real: list[dict[str, Any]]) -> None:
    write_rows(tmp_path / "d" / "train.jsonl", [real[SECONDS], real[SCREENING]])
    write_rows(tmp_path / "d" / "test.jsonl", [real[PENCILS]])
    rows, _ = load_prm800k(tmp_path / "d", "2")
    assert [r.prompt for r in rows] == prompts(real, [SCREENING])


def test_unnamed_file_without_the_phase_is_refused(tmp_path: Path, real: list[dict[str, Any]]) -> None:
    path = write_rows(tmp_path / "labels.jsonl", [real[PENCILS], real[SECONDS]])
    with pytest.raises(ValueError) as refused:
        load_prm800k(path, "2")
    assert str(refused.value) == (
        f"{path}: no PRM800K phase-2 rows for --phase 2 (phase told by each row's 'generation': null in phase 1, "
        "a number in phase 2; phase 1: 2)")


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r.pop("generation"), r"line 2: missing field 'generation', PRM800K's phase signal"),
    (lambda r: r.update(generation="6"), r"line 2: field 'generation' should be null \(phase 1\) or an integer "
                                         r"\(phase 2\), got str '6'"),
    (lambda r: r.update(generation=True), r"line 2: field 'generation' should be null .* got bool True"),
])  # fmt: skip
def test_bad_generation_is_refused(tmp_path: Path, real: list[dict[str, Any]], change: Any, message: str) -> None:
    bad = copy.deepcopy(real[SENATE])
    change(bad)
    path = write_rows(tmp_path / "labels.jsonl", [real[SECONDS], bad])
    with pytest.raises(RecordError, match=r"labels\.jsonl " + message):
        load_prm800k(path, "1")


def test_phase_needs_prm800k_rows(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "rows.jsonl", [{"prompt": "P", "completions": ["a"], "labels": [1.0]}])
    with pytest.raises(ValueError, match=r"rows\.jsonl line 1: not a PRM800K row \(its columns are stepwise's\)"):
        load_prm800k(path, "1")
    assert [r.prompt for r in load_stepwise_phased(path)] == ["P"]  # no phase asked: any format, as before


def test_hub_phase_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, real: list[dict[str, Any]]) -> None:
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError

    folder = layout(tmp_path / "hub", real, ("phase1_train", "phase1_test"))
    calls = []

    def fake_download(repo_id: str, filename: str, repo_type: str | None = None) -> str:
        calls.append((repo_id, filename, repo_type))
        if not (folder / filename).is_file():
            raise EntryNotFoundError(f"404 {filename}")
        return str(folder / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    rows, _ = load_prm800k("someone/PRM800K", "both")
    assert [r.prompt for r in rows] == prompts(real, [SECONDS])
    assert calls == [("someone/PRM800K", f"phase{p}_train.jsonl", "dataset") for p in (1, 2)]
    with pytest.raises(FileNotFoundError, match=r"^someone/PRM800K/phase2_train\.jsonl: no such file"):
        load_prm800k("someone/PRM800K", "2")


def test_prm_data_build_phase(tmp_path: Path, real: list[dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
    folder = layout(tmp_path / "prm800k", real)
    base = ["data", "build", "--n-synthetic", "0", "--gsm8k", "0", "--math", "0", "--prm800k", str(folder),
            "--eval-problems", "none"]
    for phase, expected in (("1", [SECONDS]), ("2", [SCREENING]), ("both", [SECONDS, SCREENING])):
        out = tmp_path / f"o{phase}.jsonl"
        assert main([*base, "--phase", phase, "--output", str(out)]) == 0
        written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert sorted(w["prompt"] for w in written) == sorted(prompts(real, expected))
    (folder / "phase1_train.jsonl").unlink()
    with caplog.at_level(logging.ERROR):
        assert main([*base, "--phase", "1", "--output", str(tmp_path / "x.jsonl")]) == 2
    assert f"{folder / 'phase1_train.jsonl'}: no such file" in caplog.text
    assert not (tmp_path / "x.jsonl").exists()
    assert main([*base, "--phase", "3", "--output", str(tmp_path / "x.jsonl")]) == 2  # not a choice


def test_yaml_phase_number(tmp_path: Path) -> None:
    from prm.commands.data_build import DataBuildConfig

    config = tmp_path / "c.yaml"
    config.write_text("output: o.jsonl\nphase: 2\n", encoding="utf-8")
    parser, _ = build_parser("data build")
    assert config_from_args(DataBuildConfig, parser.parse_args(["--config", str(config)])).phase == "2"


def test_prm_train_reads_the_phase(tmp_path: Path, real: list[dict[str, Any]]) -> None:
    from prm.train.config import TrainConfig
    from prm.train.data import load_training_rows

    folder = layout(tmp_path / "prm800k", real)
    for phase, expected in (("1", [SECONDS]), ("2", [SCREENING]), ("both", [SECONDS, SCREENING])):
        config = TrainConfig(data=str(folder), out_dir=str(tmp_path / "prm"), phase=phase, eval_fraction=0.0,
                             eval_problems="none")
        train, held_out = load_training_rows(config)
        assert ([r.prompt for r in train], held_out) == (prompts(real, expected), [])
    (folder / "phase2_train.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match=r"phase2_train\.jsonl: no such file"):
        load_training_rows(TrainConfig(data=str(folder), out_dir="x", phase="2", eval_problems="none"))
