"""The overoptimization monitor: proxy (PRM) and gold (answer) trends against the KL to the initial policy."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from test_grpo_trainer import _config, policy, problems  # noqa: F401  (fixtures)

from prm.grpo.monitor import OveroptimizationMonitor, first_flag, proxy_key, slope_t
from prm.grpo.trainer import train_grpo


@pytest.mark.parametrize(("values", "slope", "t"), [
    ([1.0, 2.0, 3.0], 1.0, math.inf), ([3.0, 3.0, 3.0], 0.0, 0.0), ([1.0, 2.0], math.nan, math.nan),
    ([0.0, 1.0, 0.0, 1.0], 0.2, 0.2 / math.sqrt(0.8 / 2 / 5)),  # residuals -0.2, 0.6, -0.6, 0.2; sxx 5
    ([0.0, math.nan, 2.0, 3.0], 1.0, math.inf),  # NaN skipped: the rest lies on a line
])
def test_slope_t_is_least_squares_with_its_t_statistic(values: list[float], slope: float, t: float) -> None:
    got_slope, got_t = slope_t(values)
    assert got_slope == pytest.approx(slope, nan_ok=True) and got_t == pytest.approx(t, nan_ok=True)


def test_proxy_key_is_the_first_prm_term() -> None:
    assert proxy_key({"reward/answer/mean": 1, "reward/prm_process/mean": 0.5}) == "reward/prm_process/mean"
    assert proxy_key({"reward/answer/mean": 1}) is None


def _noisy(start: float, slope: float, steps: int, rng: random.Random, noise: float = 0.1) -> list[float]:
    return [start + slope * i + rng.gauss(0, noise) for i in range(steps)]


def test_the_monitor_flags_a_significant_fall_of_the_gold_while_the_proxy_rises(caplog) -> None:
    rng = random.Random(0)
    proxy, gold = _noisy(0.3, 0.004, 40, rng, 0.03), [0.35] * 15 + _noisy(0.35, -0.012, 25, rng)
    monitor = OveroptimizationMonitor()  # window 20, z 3
    flags = [monitor.update({"reward/prm_outcome/mean": p, "accuracy": g, "kl": 0.01 * i}, i)
             ["monitor/overoptimization"] for i, (p, g) in enumerate(zip(proxy, gold, strict=True), 1)]
    assert flags[:19] == [0.0] * 19 and 1.0 in flags  # nothing before a full window; then it fires (step 33)
    assert caplog.text.count("may be exploiting the PRM") == 1  # warned once
    assert first_flag(proxy, gold) == flags.index(1.0) + 1  # the post-hoc rule of `prm grpo compare` agrees
    assert first_flag(proxy, [1.0 - g for g in gold]) is None  # gold rising with the proxy
    assert first_flag([1.0 - p for p in proxy], gold) is None  # both falling: not the proxy's doing


def test_batch_noise_alone_does_not_fire() -> None:
    """Flat gold with the batch-to-batch noise of the offline task's GRPO runs (sd 0.12): the rule, tested at
    every step from 20 on, fires in few of 200 simulated 50-step runs."""
    rng = random.Random(1)
    fired = sum(first_flag(_noisy(0.3, 0.002, 50, rng, 0.03), _noisy(0.3, 0.0, 50, rng, 0.12)) is not None
                for _ in range(200))
    assert fired < 25  # measured 12, 9, 9 of 200 (seeds 1-3); a 20-step window at z = 2 fired in about 60


def test_resume_replays_the_history_without_warning_again() -> None:
    lines = [{"reward/prm_outcome/mean": 0.5, "accuracy": 0.4, "monitor/overoptimization": float(i > 5)}
             for i in range(1, 10)]
    resumed = OveroptimizationMonitor(window=3)
    resumed.replay(lines)
    assert resumed.warned and len(resumed.proxy) == 9
    assert resumed.update({"accuracy": 0.5, "kl": 0.25}, 10) == {"monitor/sqrt_kl": 0.5}  # no PRM term


def test_a_grpo_run_logs_the_monitor(policy: Path, problems: Path, tmp_path: Path,  # noqa: F811
                                     torch_one_thread: None) -> None:
    out = tmp_path / "run"
    train_grpo(_config(policy, problems, out, rewards="answer:1.0,prm_outcome:0", prm="step_checker",
                       monitor_window=3, max_steps=3, eval_problems=0))
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all("reward/prm_outcome/mean" in line and line["monitor/sqrt_kl"] is not None for line in lines)
    assert lines[1]["monitor/gold_slope"] is None and lines[2]["monitor/gold_slope"] is not None  # window 3
    assert lines[2]["monitor/overoptimization"] in (0.0, 1.0)
    train_grpo(_config(policy, problems, tmp_path / "off", kl_monitor=False, max_steps=1, eval_problems=0))
    assert json.loads((tmp_path / "off" / "metrics.jsonl").read_text())["kl"] is None  # no reference kept
