"""``prm regime`` end to end on the tiny profile: rows journalled, the report written, a rerun resumes.

Trains with a handful of steps (the numbers are meaningless; the path is what is tested): every point of the
profile gets a row in the map, the PNGs exist, a second run trains nothing (the journal already has every
row), a row removed is the only one recomputed, two worker processes write the same rows as one, other
settings are refused (exit 2) unless ``--no-resume``, and a bad profile exits 2.
"""

from __future__ import annotations

import json
from pathlib import Path

from prm.cli import main
from prm.regime.cells import PROFILES, profile_cells

ARGS = ["regime", "--profile", "tiny", "--train-steps", "5", "--seeds", "1", "--processes", "1"]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_regime_tiny_end_to_end_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "regime"
    assert main([*ARGS, "--out-dir", str(out)]) == 0
    journal = out / "rows.jsonl"
    first = rows(journal)
    cells = {cell.key: cell for _, _, cell in profile_cells(PROFILES["tiny"])}
    expected = {(key, v) for key, cell in cells.items() for v in cell.verifiers}
    expected |= {(key, v) for key in cells for v in ("_pool", "_label_cost")}
    assert {(row["cell"], row["verifier"]) for row in first} >= expected
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
