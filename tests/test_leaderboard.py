"""``prm eval report``: the evaluations under a folder ranked beside the published numbers, with plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_prmbench import ROWS
from test_processbench import _folder

from eval.benchmarks.leaderboard import PUBLISHED, collect
from prm.cli import main


def test_the_page_ranks_runs_beside_published_numbers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    runs = tmp_path / "runs"
    assert main(["eval", "processbench", "--prm", "step_checker", "--data", str(_folder(tmp_path)), "--splits",
                 "gsm8k,math", "--out-dir", str(runs / "pb")]) == 0  # mean F1 78.6
    prmbench = tmp_path / "prmbench.jsonl"
    prmbench.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    assert main(["eval", "prmbench", "--prm", "step_checker", "--data", str(prmbench), "--limit", "1",
                 "--out-dir", str(runs / "nested" / "prmb")]) == 0
    (runs / "broken").mkdir()
    (runs / "broken" / "prmbench.json").write_text("{not json")
    assert main(["eval", "report", "--runs", str(runs)]) == 0
    page = (runs / "leaderboard.md").read_text()
    assert "broken/prmbench.json: skipped" in caplog.text
    lines = page.splitlines()
    processbench = lines[lines.index("## ProcessBench: mean F1 over splits (%, threshold 0.5)") + 2:][:10]
    names = [line.split("|")[1].strip() for line in processbench if line.startswith("| ")][1:]  # after the header
    assert names[:3] == ["**step_checker**", "Qwen/Qwen2.5-Math-PRM-72B", "Qwen/Qwen2.5-Math-PRM-7B"]  # 78.6 first
    assert "| **step_checker** | 78.6 |" in page and "[processbench.md](pb/processbench.md)" in page
    assert "| Qwen/Qwen2.5-Math-PRM-7B | 73.5 | published |" in page
    assert "--limit 1 (not comparable)" in page and "[prmbench.md](nested/prmb/prmbench.md)" in page
    assert len([line for line in lines if "| published |" in line]) == sum(len(v) for v in PUBLISHED.values())
    for benchmark in ("processbench", "prmbench"):
        assert f"![{benchmark}](leaderboard_{benchmark}.png)" in page
        assert (runs / f"leaderboard_{benchmark}.png").read_bytes()[:4] == b"\x89PNG"
    assert "arXiv:2412.06559" in page and "arXiv:2501.03124" in page
    assert {run.benchmark for run in collect(runs)} == {"processbench", "prmbench"}


def test_an_empty_folder_gives_a_page_and_a_missing_one_an_error(tmp_path: Path) -> None:
    assert main(["eval", "report", "--runs", str(tmp_path)]) == 0
    assert "No evaluation reports found." in (tmp_path / "leaderboard.md").read_text()
    assert main(["eval", "report", "--runs", str(tmp_path / "missing")]) == 2
