"""The `prm` command line: verify on files, clear errors on bad records, YAML config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prm.cli import main


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_verify_pairs_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_jsonl(tmp_path / "pairs.jsonl", [
        {"gold": "\\frac12", "pred": "so \\boxed{0.5}"}, {"gold": "3", "pred": "The answer is 4."},
        {"gold": "(1,2", "pred": "\\boxed{1}"},
    ])
    assert main(["verify", str(src)]) == 0
    rows = [json.loads(line) for line in (tmp_path / "pairs.verified.jsonl").read_text().splitlines()]
    assert [r["verdict"] for r in rows] == ["correct", "incorrect", "unparsable"]
    assert rows[0]["extracted_answer"] == "0.5"
    assert "| correct | 1 |" in capsys.readouterr().out


def test_verify_samples_joined_with_problems(tmp_path: Path) -> None:
    problems = write_jsonl(tmp_path / "problems.jsonl", [
        {"id": "a", "problem": "3+4?", "answer": "7", "source": "t"},
        {"id": "b", "problem": "1+x?", "answer": "x+1", "source": "t"},
    ])
    samples = write_jsonl(tmp_path / "samples.jsonl", [
        {"problem_id": "a", "sample_idx": 0, "text": "3+4=7 so \\boxed{7}"},
        {"problem_id": "b", "sample_idx": 0, "text": "\\boxed{1+x}"},
    ])
    out = tmp_path / "out.jsonl"
    assert main(["verify", str(samples), "--problems", str(problems), "--output", str(out)]) == 0
    assert [json.loads(line)["verdict"] for line in out.read_text().splitlines()] == ["correct", "correct"]


@pytest.mark.parametrize(("line", "message"), [
    ('{"gold": "1"}', "line 2: missing field 'pred'"),
    ("{not json", "line 2: not valid JSON"),
    ('{"gold": "1", "pred": ["a"]}', "line 2: field 'pred' should be str"),
    ("[1, 2]", "line 2: expected a JSON object"),
])
def test_bad_records_name_line_and_field(tmp_path: Path, caplog: pytest.LogCaptureFixture, line: str,
                                         message: str) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text('{"gold": "1", "pred": "1"}\n' + line + "\n", encoding="utf-8")
    out = write_jsonl(tmp_path / "existing.jsonl", [{"keep": True}])
    assert main(["verify", str(src), "--output", str(out)]) == 2
    assert message in caplog.text
    assert json.loads(out.read_text()) == {"keep": True}  # nothing already written is lost


def test_yaml_config_and_overrides(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "p.jsonl", [{"gold": "10\\%", "pred": "0.1"}])
    config = tmp_path / "c.yaml"
    config.write_text("percent: number\nworkers: 1\n", encoding="utf-8")
    main(["verify", str(src), "--config", str(config)])
    assert json.loads((tmp_path / "p.verified.jsonl").read_text())["verdict"] == "incorrect"
    main(["verify", str(src), "--config", str(config), "--percent", "both"])
    assert json.loads((tmp_path / "p.verified.jsonl").read_text())["verdict"] == "correct"


def test_unknown_yaml_key_is_an_error(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "p.jsonl", [{"gold": "1", "pred": "1"}])
    config = tmp_path / "c.yaml"
    config.write_text("percnt: number\n", encoding="utf-8")
    assert main(["verify", str(src), "--config", str(config)]) == 2
