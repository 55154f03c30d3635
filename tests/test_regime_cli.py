"""``prm regime`` end to end on the tiny profile: rows journalled, the report written, a rerun resumes.

Trains with a handful of steps (the numbers are meaningless; the path is what is tested): every point of the
profile gets a row in the map, the PNGs exist, a second run trains nothing (the journal already has every
row), a row removed is the only one recomputed, two worker processes write the same rows as one, other
settings are refused (exit 2) unless ``--no-resume``, and a bad profile exits 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prm.cli import main
from prm.regime.cells import PROFILES, profile_cells

ARGS = ["regime", "--profile", "tiny", "--train-steps", "5", "--seeds", "1", "--processes", "1"]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def expected_rows() -> set[tuple[str, str]]:
    """(cell, verifier) of every row the tiny profile writes per seed."""
    points = profile_cells(PROFILES["tiny"])
    return {(cell.key, v) for _, _, cell in points for v in (*cell.verifiers, "_pool", "_label_cost")}


def test_regime_tiny_end_to_end_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "regime"
    assert main([*ARGS, "--out-dir", str(out)]) == 0
    journal = out / "rows.jsonl"
    first = rows(journal)
    assert {(row["cell"], row["verifier"]) for row in first} == expected_rows()
    summary = json.loads((out / "regime.json").read_text())
    assert len(summary["map"]) == len(profile_cells(PROFILES["tiny"]))
    markdown = (out / "regime.md").read_text()
    assert "## The map" in markdown and "binary search" in markdown
    for name in ("regime_n.png", "regime_grid.png", "regime_budget.png"):
        assert (out / name).stat().st_size > 1000

    assert main([*ARGS, "--out-dir", str(out)]) == 0
    assert rows(journal) == first  # nothing retrained

    kept = [line for line in journal.read_text().splitlines() if '"verifier": "prm_exact"' not in line
            or json.loads(line)["train_solutions"] != 500]
    journal.write_text("\n".join(kept) + "\n")
    assert main([*ARGS, "--out-dir", str(out)]) == 0
    again = rows(journal)
    assert len(again) == len(first)
    assert again[-1]["verifier"] == "prm_exact" and again[-1]["train_solutions"] == 500


def without_time(row: dict) -> dict:
    return {key: value for key, value in row.items() if key != "seconds"}


def test_two_processes_write_the_rows_one_writes(tmp_path: Path) -> None:
    """Each (cell, seed) runs on one torch thread wherever it runs, so the rows are the same numbers."""
    assert main([*ARGS, "--out-dir", str(tmp_path / "one")]) == 0
    assert main([*ARGS[:-1], "2", "--out-dir", str(tmp_path / "two")]) == 0
    key = lambda row: (row["cell"], row["verifier"])  # noqa: E731
    one = sorted(map(without_time, rows(tmp_path / "one" / "rows.jsonl")), key=key)
    two = sorted(map(without_time, rows(tmp_path / "two" / "rows.jsonl")), key=key)
    assert one == two


def test_regime_refuses_other_settings_and_bad_profiles(tmp_path: Path) -> None:
    out = tmp_path / "regime"
    assert main([*ARGS, "--out-dir", str(out)]) == 0
    assert main(["regime", "--profile", "tiny", "--train-steps", "6", "--seeds", "1", "--out-dir", str(out)]) == 2
    assert main([*ARGS, "--train-steps", "6", "--no-resume", "--out-dir", str(out)]) == 0  # starts over
    assert main(["regime", "--profile", "huge", "--out-dir", str(out)]) == 2
    assert main(["regime", "--report-only", "--out-dir", str(tmp_path / "empty")]) == 2


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        found.update(int(child) for child in children)
    return found


@pytest.mark.slow  # starts the sweep's worker processes twice: ~40 s on 2 cores
def test_killed_sweep_leaves_no_worker_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "regime"
    command = [sys.executable, "-m", "prm.cli", "regime", "--profile", "tiny", "--train-steps", "300", "--seeds", "1",
               "--processes", "2", "--out-dir", str(out)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.5)
        workers = {pid for pid in _children(process.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()}
    assert len(workers) >= 2, "the sweep never started its workers"
    time.sleep(3)
    process.kill()
    process.wait()

    def alive() -> list[int]:
        return [pid for pid in workers if Path(f"/proc/{pid}").exists()
                and "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]

    # a worker dies with the sweep at once, or, if it was still starting, as soon as its start-up ends
    deadline = time.monotonic() + 60
    while alive() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive(), "workers outlived the sweep"
    assert main([*ARGS, "--train-steps", "300", "--out-dir", str(out)]) == 0
    written = rows(out / "rows.jsonl")
    keys = [(row["cell"], row["seed"], row["verifier"]) for row in written]
    assert len(keys) == len(set(keys))
    assert {(cell, verifier) for cell, _, verifier in keys} == expected_rows()
