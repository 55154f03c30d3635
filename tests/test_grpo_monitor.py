"""The overoptimization monitor: proxy (PRM) and gold (answer) trends against the KL to the initial policy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from test_grpo_trainer import _config, policy, problems  # noqa: F401  (fixtures)

from prm.grpo.monitor import OveroptimizationMonitor, proxy_key, trends
from prm.grpo.trainer import train_grpo


def test_trends_compare_the_last_window_with_the_one_before() -> None:
    assert trends([0.1, 0.2, 0.5, 0.6], 2) == pytest.approx(0.4)
    assert math.isnan(trends([0.1, 0.2, 0.5], 2))
    assert proxy_key({"reward/answer/mean": 1, "reward/prm_process/mean": 0.5}) == "reward/prm_process/mean"
    assert proxy_key({"reward/answer/mean": 1}) is None


def test_the_monitor_flags_a_rising_proxy_with_a_falling_gold_once(caplog: pytest.LogCaptureFixture) -> None:
    monitor = OveroptimizationMonitor(window=3, tolerance=0.02)
    proxy = [0.50, 0.52, 0.51, 0.60, 0.70, 0.80, 0.85, 0.90, 0.95]
    gold = [0.40, 0.42, 0.41, 0.40, 0.35, 0.30, 0.25, 0.22, 0.20]
    flags = [monitor.update({"reward/prm_outcome/mean": p, "accuracy": g, "kl": 0.04 * i}, i)
             ["monitor/overoptimization"] for i, (p, g) in enumerate(zip(proxy, gold, strict=True), 1)]
    assert flags == [0.0] * 5 + [1.0] * 4  # from step 6: two full windows, proxy up, gold down
    assert caplog.text.count("may be exploiting the PRM") == 1
    honest = OveroptimizationMonitor(window=3)  # both rising: no flag
    assert not any(honest.update({"reward/prm_outcome/mean": p, "accuracy": p - 0.1}, i)["monitor/overoptimization"]
                   for i, p in enumerate(proxy, 1))
    resumed = OveroptimizationMonitor(window=3)
    resumed.replay([{"reward/prm_outcome/mean": p, "accuracy": g, "monitor/overoptimization": float(i > 5)}
                    for i, (p, g) in enumerate(zip(proxy, gold, strict=True), 1)])
    assert resumed.warned and len(resumed.proxy) == 9
    assert monitor.update({"accuracy": 0.5, "kl": 0.25}, 10) == {"monitor/sqrt_kl": 0.5}  # no PRM term


def test_a_grpo_run_logs_the_monitor(policy: Path, problems: Path, tmp_path: Path,  # noqa: F811
                                     torch_one_thread: None) -> None:
    out = tmp_path / "run"
    train_grpo(_config(policy, problems, out, rewards="answer:1.0,prm_outcome:0", prm="step_checker",
                       monitor_window=1, max_steps=3, eval_problems=0))
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all("reward/prm_outcome/mean" in line and line["monitor/sqrt_kl"] is not None for line in lines)
    assert lines[0]["monitor/proxy_trend"] is None and lines[1]["monitor/proxy_trend"] is not None  # window 1
    assert lines[2]["monitor/overoptimization"] in (0.0, 1.0)
    train_grpo(_config(policy, problems, tmp_path / "off", kl_monitor=False, max_steps=1, eval_problems=0))
    assert json.loads((tmp_path / "off" / "metrics.jsonl").read_text())["kl"] is None  # no reference kept
