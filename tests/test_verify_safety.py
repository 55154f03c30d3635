"""The verifier off the main thread, inside worker processes, under timeouts and hostile input."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from verifiers import Status, VerifyConfig, verify, verify_many
from verifiers.sandbox import get_sandbox

# Pairs that need sympy (not plain arithmetic), so they exercise the sandbox workers.
SYMBOLIC = [
    ("x^2+2x+1", "(x+1)^2", True), ("2\\sqrt{2}", "\\sqrt{8}", True), ("\\frac{\\pi}{6}", "\\pi/6", True),
    ("x^2-1", "(x-1)(x+2)", False), ("\\sqrt{2}", "\\sqrt{3}", False), ("y=2x+1", "2x-y+1=0", True),
]
FAST = VerifyConfig(timeout_s=1.0)


def _statuses(pairs: list[tuple[str, str, bool]]) -> list[bool]:
    return [verify(g, p).is_equal for g, p, _ in pairs]


def _verify_in_child(pair: tuple[str, str]) -> str:
    # A roomier budget than FAST: the pool's two children compete for the CPU with everything else. A call's
    # deadline covers a sandbox worker's start, which a loaded machine can stretch past it: start one first.
    get_sandbox().prestart(1)
    return verify(*pair, VerifyConfig(timeout_s=4.0)).status.value


def test_symbolic_pairs_from_threads_match_serial() -> None:
    expected = [e for _, _, e in SYMBOLIC]
    assert _statuses(SYMBOLIC) == expected
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda row: verify(row[0], row[1]).is_equal, SYMBOLIC * 3))
    assert results == expected * 3


def test_verify_many_keeps_order_with_workers() -> None:
    pairs = [(g, p) for g, p, _ in SYMBOLIC] + [("1", "1"), ("1", "2")]
    serial = [v.status for v in verify_many(pairs, workers=1)]
    parallel = [v.status for v in verify_many(pairs, workers=3)]
    assert serial == parallel
    assert [s is Status.EQUAL for s in serial] == [e for _, _, e in SYMBOLIC] + [True, False]


def test_timeout_works_off_the_main_thread() -> None:
    box: dict[str, object] = {}

    def run() -> None:
        start = time.monotonic()
        box["verdict"] = verify("9^{9^{9^{9}}}", "9^{9^{9^{9}}} + 1", FAST)
        box["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    verdict = box["verdict"]
    assert verdict.status is Status.TIMEOUT, verdict  # type: ignore[union-attr]
    assert box["seconds"] < 10  # type: ignore[operator]
    # The killed worker is replaced: the next symbolic pair still works.
    assert verify("2\\sqrt{2}", "\\sqrt{8}").is_equal


def test_verify_inside_a_multiprocessing_pool() -> None:
    """Daemonic pool workers cannot fork multiprocessing children; the sandbox still works there."""
    pairs = [("x^2+2x+1", "(x+1)^2"), ("\\sqrt{2}", "\\sqrt{3}"), ("9^{9^{9^{9}}}", "9^{9^{9^{9}}}+1")]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_verify_in_child, pairs)
    assert results == ["equal", "not_equal", "timeout"]


HOSTILE = [
    "9^{9^{9^9}}", "10^{10^{10^{10}}}", "x" * 100_000, "\\boxed{" + "1+" * 50_000 + "1}",
    "{" * 5000 + "}" * 5000, "\\frac{" * 2000, "\\boxed{" * 3000, "(" * 10_000, "\\sqrt{" * 500 + "2" + "}" * 500,
    "\x00\x01\x1b[31m\u202e", "🙂 = 🙃", "1" * 5000, "\\begin{pmatrix}" + "1&" * 5000 + "\\end{pmatrix}",
    "__import__('os').system('echo pwned')", "\\boxed{__import__('os').getcwd()}", "$$$$", "\\", "}{",
    "\\boxed{x = = = 3}", "\\boxed{\\text{" + "a" * 2000 + "}}", "1,2," * 2000, "\\pm\\pm\\pm",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_returns_quickly_with_a_status(text: str) -> None:
    for gold, pred in ((text, "5"), ("5", text), (text, text + " ")):
        start = time.monotonic()
        verdict = verify(gold, pred, FAST)
        assert isinstance(verdict.status, Status)
        assert time.monotonic() - start < 8, (gold[:40], pred[:40], verdict.status)
        if gold == "5" and verdict.status is Status.EQUAL:
            pytest.fail(f"hostile pred judged equal to 5: {text[:40]!r}")


def test_model_text_never_reaches_eval(tmp_path, monkeypatch) -> None:
    marker = tmp_path / "pwned"
    payload = f"\\boxed{{__import__('pathlib').Path('{marker}').touch()}}"
    verify("1", payload, FAST)
    verify(payload, "1", FAST)
    assert not marker.exists()
