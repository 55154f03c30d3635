"""`prm grpo compare`: seeds grouped by folder name, pass@1 change and time split in the table, a plot."""

from __future__ import annotations

import json
from pathlib import Path

from prm.cli import main
from prm.grpo.compare import comparison_markdown, load_run


def fake_run(root: Path, name: str, start: float, end: float, accuracies: list[float],
             proxy: list[float] | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for tag, value in (("start", start), ("end", end)):
        (folder / f"eval_{tag}.json").write_text(json.dumps({"pass_at": {"1": value, "2": value}}))
    lines = [{"step": i + 1, "accuracy": a, "reward/combined/mean": a, "time/step_s": 2.0,
              "time/generation_share": 0.4, "time/reward_share": 0.1, "time/update_share": 0.5,
              "time/sync_share": 0.0, "kl": 0.01 * i} for i, a in enumerate(accuracies)]
    for line, value in zip(lines, proxy or [], strict=False):
        line["reward/prm_outcome/mean"] = value
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


def test_seeds_of_one_reward_are_averaged(tmp_path: Path) -> None:
    rising = [0.5 + 0.4 * i / 29 for i in range(30)]
    falling = [0.3 - 0.2 * i / 29 + (0.02 if i % 2 else -0.02) for i in range(30)]
    runs = [load_run(fake_run(tmp_path, "answer-s0", 0.30, 0.40, [0.3, 0.5])),
            load_run(fake_run(tmp_path, "answer-s1", 0.30, 0.36, [0.2, 0.4])),
            # 30 steps; seed 0: proxy 0.5 -> 0.9 while accuracy falls 0.3 -> 0.1 (wobbling by 0.02); seed 1: both rise
            load_run(fake_run(tmp_path, "prm_outcome-s0", 0.30, 0.25, falling, proxy=rising)),
            load_run(fake_run(tmp_path, "prm_outcome-s1", 0.30, 0.35, [a + 0.2 for a in rising], proxy=rising))]
    assert [r.group for r in runs] == ["answer", "answer", "prm_outcome", "prm_outcome"]
    table = comparison_markdown(runs).splitlines()
    assert table[2].startswith("| answer | 2 | 2 | 30.0 ± 0.0 | 38.0 ± 2.8 | +8.0 (per seed: +10.0, +6.0) | "
                               "[-17.4, +33.4] | n/a (no PRM term) | 2.00 |")
    assert "| 40% | 10% | 50% | 0% |" in table[2]
    assert table[3].startswith("| prm_outcome | 2 | 30 | 30.0 ± 0.0 | 30.0 ± 7.1 | +0.0 (per seed: -5.0, +5.0) | "
                               "[-63.5, +63.5] | 1 of 2 seeds (20) |")  # the monitor's rule, from its first step


def test_command_writes_table_and_plot(tmp_path: Path) -> None:
    folders = [str(fake_run(tmp_path, f"answer-s{seed}", 0.3, 0.35, [0.3, 0.4, 0.5])) for seed in (0, 1)]
    assert main(["grpo", "compare", *folders, "--out-dir", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "grpo_compare.png").stat().st_size > 0
    assert main(["grpo", "compare", str(tmp_path / "missing"), "--out-dir", str(tmp_path / "out")]) == 2
