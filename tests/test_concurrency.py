"""Concurrent use gives the serial answers: the verifier and the PRM scorer called from 16 threads at once,
and from 4 spawned processes at once (``test_verify_safety.py`` covers timeouts off the main thread and a
2-process pool; this adds the load: many callers sharing one sandbox pool, one scorer, one tokenizer)."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from verifiers import VerifyConfig, verify, verify_many
from verifiers.sandbox import get_sandbox
from verifiers.verify import _decide_cached

pytestmark = pytest.mark.usefixtures("torch_one_thread")

CONFIG = VerifyConfig(timeout_s=10.0)  # roomy: 16 callers share 2 busy cores
PAIRS = [  # plain arithmetic (in-process) and symbolic (sandbox) pairs, equal and not
    ("5", "\\boxed{5}"), ("\\frac{1}{2}", "0.5"), ("3", "so the answer is 4"), ("x^2+2x+1", "(x+1)^2"),
    ("2\\sqrt{2}", "\\sqrt{8}"), ("\\sqrt{2}", "\\sqrt{3}"), ("(1,2)", "(2,1)"), ("\\{1,2\\}", "\\{2,1\\}"),
    ("y=2x+1", "2x-y+1=0"), ("10\\%", "0.1"), ("\\pi/6", "\\frac{\\pi}{6}"), ("x^2-1", "(x-1)(x+2)"),
]
THREADS, PROCESSES = 16, 4


def _statuses(pairs: list[tuple[str, str]]) -> list[str]:
    return [verify(gold, pred, CONFIG).status.value for gold, pred in pairs]


def _verify_in_child(pairs: list[tuple[str, str]]) -> list[str]:
    # a call's deadline covers a worker's start; four children starting sandboxes at once on a loaded machine
    # can take longer than that, so each child pays for its starts first (what a server or trainer does)
    get_sandbox().prestart(2)
    return [v.status.value for v in verify_many(pairs, workers=2, config=CONFIG)]


def _all_at_once(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads released together by a barrier; results in thread order."""
    barrier = threading.Barrier(count)

    def start(i: int):
        barrier.wait(timeout=60)
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(start, range(count)))


def test_verifier_from_16_threads_matches_serial() -> None:
    serial = _statuses(PAIRS)
    assert serial.count("equal") == 8 and serial.count("not_equal") == 4
    _decide_cached.cache_clear()  # make every thread do the work, not read the cache
    rotated = [PAIRS[i:] + PAIRS[:i] for i in range(THREADS)]  # each thread its own order
    results = _all_at_once(THREADS, lambda i: _statuses(rotated[i]))
    assert results == [serial[i:] + serial[:i] for i in range(THREADS)]
    _decide_cached.cache_clear()
    many = _all_at_once(THREADS, lambda i: [v.status.value for v in verify_many(rotated[i], 2, CONFIG)])
    assert many == results


def test_verifier_from_4_spawned_processes_matches_serial() -> None:
    serial = _statuses(PAIRS)
    orders = [PAIRS[i:] + PAIRS[:i] for i in range(PROCESSES)]
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        results = pool.map(_verify_in_child, orders)
    assert results == [serial[i:] + serial[:i] for i in range(PROCESSES)]


@pytest.fixture(scope="module")
def prm_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:

    from prm.model.tiny import save_tiny_backbone, save_tiny_prm

    texts = [f"{a}+{b}\nadd {a} {b}\n\nget {a + b}\n\n\\boxed{{{a + b}}}" for a in range(1, 10) for b in range(1, 10)]
    backbone = save_tiny_backbone(tmp_path_factory.mktemp("backbone"), texts)
    return save_tiny_prm(tmp_path_factory.mktemp("prm"), backbone)


ITEMS = [(f"{a}+{b}", f"add {a} {b}\n\nget {a + b + (a % 3 == 0)}\n\n\\boxed{{{a + b}}}" * (1 + a % 2))
         for a in range(1, 9) for b in range(2, 5)]


def _score_in_child(args: tuple[str, list]) -> list:
    import torch

    from prm.model.scoring import PRMScorer

    torch.set_num_threads(1)
    folder, items = args
    return PRMScorer(folder, device="cpu").score_batch(items, batch_size=4)


def _close(got: list[list[float | None]], want: list[list[float | None]]) -> bool:
    return len(got) == len(want) and all(a == pytest.approx(b, abs=1e-5) for a, b in zip(got, want, strict=True))


def test_scorer_from_16_threads_matches_serial(prm_folder: Path) -> None:
    from prm.model.scoring import PRMScorer

    scorer = PRMScorer(prm_folder, device="cpu")
    serial = scorer.score_batch(ITEMS, batch_size=4)
    assert len(serial) == len(ITEMS) and all(len(s) >= 3 for s in serial)
    orders = [ITEMS[i:] + ITEMS[:i] for i in range(THREADS)]
    results = _all_at_once(THREADS, lambda i: scorer.score_batch(orders[i], batch_size=4))
    for i, got in enumerate(results):
        assert _close(got, serial[i:] + serial[:i]), i


@pytest.mark.slow  # four fresh interpreters importing torch and transformers: 20-45 s on 2 busy cores
def test_scorer_from_4_spawned_processes_matches_serial(prm_folder: Path) -> None:
    from prm.model.scoring import PRMScorer

    serial = PRMScorer(prm_folder, device="cpu").score_batch(ITEMS, batch_size=4)
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        results = pool.map(_score_in_child, [(str(prm_folder), ITEMS[i:] + ITEMS[:i]) for i in range(PROCESSES)])
    for i, got in enumerate(results):
        assert _close(got, serial[i:] + serial[:i]), i
