"""``prm serve``: every endpoint over a real loopback socket, concurrent requests merged into one PRM
batch, clear 4xx errors naming item and field, hostile inputs, the client's retries and the TRL reward."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from tiny_policy import build_tiny_prm

from data.synth import generate_problems
from eval.aggregate import AGGREGATIONS
from prm.cli import SUBCOMMANDS, main
from prm.model.scoring import PRMScorer
from prm.serve.app import create_app
from prm.serve.batcher import DynamicBatcher
from prm.serve.client import RewardClient, ServeError, remote_reward
from prm.serve.runner import BackgroundServer
from prm.serve.schemas import ServeConfig

pytestmark = pytest.mark.usefixtures("torch_one_thread")

LIMITS = {"max_items": 16, "max_steps_per_item": 16, "max_chars": 4000, "max_body_bytes": 200_000}


@pytest.fixture(scope="module")
def problems():
    return generate_problems(8, seed=5, split="test")


@pytest.fixture(scope="module")
def prm_folder(tmp_path_factory, problems) -> str:
    return build_tiny_prm(tmp_path_factory.mktemp("prm"), problems, head_std=0.5)


@pytest.fixture(scope="module")
def server(prm_folder):
    config = ServeConfig(prm=prm_folder, device="cpu", max_batch=16, max_wait_ms=50, timeout_s=2, **LIMITS)
    with BackgroundServer(create_app(config)) as running:
        yield running


@pytest.fixture(scope="module")
def scorer(prm_folder) -> PRMScorer:
    return PRMScorer(prm_folder, device="cpu")


def test_serve_is_a_registered_command():
    assert SUBCOMMANDS["serve"][0] == "prm.commands.serve"
    assert main(["serve", "--rewards", "prm_outcome"]) == 2  # the PRM reward needs --prm: refused before binding


@pytest.mark.parametrize("aggregation", [None, *AGGREGATIONS])
def test_score_matches_the_scorer(server, scorer, problems, aggregation):
    items = [{"problem": p.problem, "solution": p.solution} for p in problems[:3]]
    items.append({"problem": problems[3].problem, "steps": scorer.steps_of(problems[3].solution)})
    results = RewardClient(server.url).score(items, aggregation)
    for item, result in zip(items, results, strict=True):
        expected = scorer.score(item["problem"], item.get("steps") or item.get("solution"))
        assert result["step_scores"] == pytest.approx(expected, abs=1e-5)
        assert result["score"] == pytest.approx(AGGREGATIONS[aggregation or "min"](expected), abs=1e-5)


def test_concurrent_requests_are_merged_into_batches(server, problems, scorer):
    expected = [scorer.score(p.problem, p.solution) for p in problems]
    assert all(a != pytest.approx(b, abs=1e-4) for i, a in enumerate(expected) for b in expected[:i])  # distinct
    client, barrier = RewardClient(server.url), threading.Barrier(12)
    before = client.metrics()["batches"]
    results: list = [None] * 12

    def one(index: int) -> None:
        problem = problems[index % len(problems)]
        barrier.wait()
        results[index] = client.score([{"problem": problem.problem, "solution": problem.solution}])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    after = client.metrics()["batches"]
    assert all(r is not None and len(r) == 1 for r in results)
    for index, result in enumerate(results):  # each request gets its own problem's scores, not a batch-mate's
        assert result[0]["step_scores"] == pytest.approx(expected[index % len(problems)], abs=1e-5), index
    assert after["items"] - before["items"] == 12
    assert after["count"] - before["count"] < 12  # fewer forward passes than requests
    assert after["max_size"] > 1
    text = httpx.get(server.url + "/metrics", params={"format": "prometheus"}).text
    assert 'prm_requests_total{endpoint="/score",status="200"}' in text and "prm_batch_size_bucket" in text


VERIFY_TABLE = [("\\frac{1}{2}", "so the answer is \\boxed{0.5}", "equal"), ("3", "The answer is 4.", "not_equal"),
                ("(1,2", "\\boxed{1}", "unparsable"), ("x+1", "\\boxed{1+x}", "equal")]


def test_verify_endpoint(server):
    results = RewardClient(server.url).verify([(gold, answer) for gold, answer, _ in VERIFY_TABLE])
    assert [r["status"] for r in results] == [status for *_, status in VERIFY_TABLE]
    assert results[0]["equal"] and results[0]["extracted"]["answer"] == "0.5"


def test_get_reward_answer_plus_prm(server, problems, scorer):
    wrong = problems[1].solution.replace(f"\\boxed{{{problems[1].answer}}}", "\\boxed{123456789}")
    prompts = [problems[0].problem, problems[1].problem, problems[2].problem]
    responses = [problems[0].solution, wrong, problems[2].solution]
    reply = RewardClient(server.url).get_reward([p + r for p, r in zip(prompts, responses, strict=True)], prompts,
                                                [problems[0].answer, problems[1].answer, None])
    logs = reply["extra_logs"]
    assert logs["answer_reward"] == [1.0, 0.0, None]
    for prompt, response, steps in zip(prompts, responses, logs["step_scores"], strict=True):
        assert steps == pytest.approx(scorer.score(prompt, response), abs=1e-5)
    assert reply["rewards"][:2] == pytest.approx([1.0 + min(logs["step_scores"][0]), min(logs["step_scores"][1])])
    assert reply["rewards"][2] is None and reply["scores"] == reply["rewards"]


def test_answer_only_server_without_prm():
    with TestClient(create_app(ServeConfig())) as client:
        reply = client.post("/get_reward", json={"query": ["Q: 1+1? A: \\boxed{2}", "Q: x A: 5", "Q: y A: 1"],
                                                 "prompts": ["Q: 1+1?", "Q: x", "Q: y"], "labels": [2, "4", None]})
        assert reply.status_code == 200 and reply.json()["rewards"] == [1.0, 0.0, None]
        unlabelled = client.post("/get_reward", json={"query": ["\\boxed{2}"]}).json()
        assert unlabelled["rewards"] == [None] and unlabelled["extra_logs"]["answer_reward"] == [None]
        missing = client.post("/score", json={"items": [{"problem": "p", "steps": ["a"]}]})
        assert missing.status_code == 501 and "--prm" in missing.json()["detail"]
        assert client.get("/health").json()["prm"] is None


def _body(n_steps: int = 1, **item) -> dict:
    return {"items": [{"problem": "p", "steps": ["a"]}, {"problem": "p", "steps": ["s"] * n_steps, **item}]}


ERROR_TABLE = [
    ("/score", b'{"items": [', 400, "Invalid JSON"),
    ("/score", _body(17), 422, "items[1].steps: 17 steps > limit 16"),
    ("/score", {"items": [{"problem": "p", "solution": "a\n\nb\n\n" * 9}]}, 422, "items[0].steps: 18 steps > limit 16"),
    ("/score", _body(1, problem="x" * 5000), 422, "items[1]: 5001 characters (problem 5000, steps 1) > limit 4000"),
    ("/score", {"items": [{"problem": "p", "steps": ["a"]}] * 17}, 422, "items: 17 items > limit 16"),
    ("/score", {"items": [{"steps": ["a"]}]}, 422, "items[0].problem: Field required"),
    ("/score", {"items": [{"problem": "p", "steps": ["a", 7]}]}, 422, "items[0].steps[1]: Input should be a valid str"),
    ("/score", {"items": [{"problem": "p"}]}, 422, "items[0]: give exactly one of steps"),
    ("/score", {"items": [{"problem": "p", "steps": ["a"]}], "aggregation": "max"}, 422, "unknown aggregation 'max'"),
    ("/score", {"items": [{"problem": "p", "steps": ["a"]}], "extra": 1}, 422, "extra: Extra inputs"),
    ("/score", {"items": [{"problem": "p", "steps": ["a" * 250_000]}]}, 413, "bytes > limit 200000"),
    ("/verify", {"pairs": [{"gold": "1", "answer": "2"}, {"gold": "1"}]}, 422, "pairs[1].answer: Field required"),
    ("/verify", {"pairs": [{"gold": "1", "answer": "9" * 5000}]}, 422,
     "pairs[0]: 5001 characters (gold 1, answer 5000) > limit 4000"),
    ("/get_reward", {"query": ["a", "b"], "labels": ["1"]}, 422, "labels: 1 entries but query has 2"),
]


@pytest.mark.parametrize("path,body,status,message", ERROR_TABLE)
def test_bad_requests_get_clear_4xx(server, path, body, status, message):
    content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
    reply = httpx.post(server.url + path, content=content, headers={"Content-Type": "application/json"}, timeout=30)
    assert reply.status_code == status, reply.text
    assert message in reply.json()["detail"], reply.json()


HOSTILE = [
    ("/verify", {"pairs": [{"gold": "2", "answer": "\\boxed{9^{9^{9^9}}}"}]}, 200),
    ("/verify", {"pairs": [{"gold": "\\frac{" * 200 + "1" + "}{2}" * 200, "answer": "{" * 1500}]}, 200),
    ("/verify", {"pairs": [{"gold": "1", "answer": "\x00\x07\x1b[31m\u202e\ufeff \\boxed{1}"}]}, 200),
    ("/score", {"items": [{"problem": "\x00\x01\x1f", "steps": ["\x7f\u202e", "\\frac{" * 500, ""]}]}, 200),
    ("/score", {"items": [{"problem": "p", "solution": ""}]}, 200),
    ("/score", {"items": [{"problem": "x" * 100_000, "steps": ["a"]}]}, 422),
    ("/get_reward", {"query": ["\\boxed{" * 500], "prompts": [""], "labels": ["9^{9^{9^9}}"]}, 200),
    ("/get_reward", {"query": ["y" * 100_000], "labels": ["1"]}, 200),
]


@pytest.mark.parametrize("path,body,status", HOSTILE)
def test_hostile_inputs_never_crash_the_server(server, path, body, status):
    start = time.monotonic()
    reply = httpx.post(server.url + path, json=body, timeout=30)
    assert reply.status_code == status, reply.text
    assert time.monotonic() - start < 15
    if path == "/get_reward":
        (reward,), logs = reply.json()["rewards"], reply.json()["extra_logs"]
        if "errors" in logs:  # over a per-item limit: "cannot judge", with the reason logged
            assert reward is None and "characters (query 100000, labels 1) > limit" in logs["errors"][0]
        elif None in (logs["answer_reward"][0], logs["prm_score"][0]):  # e.g. every step past the model's length
            assert reward is None
        else:
            assert reward == pytest.approx(logs["answer_reward"][0] + logs["prm_score"][0])
    assert httpx.get(server.url + "/health").json()["status"] == "ok"


@pytest.mark.parametrize("raw", [b'{"items": [{"problem": "\\ud800", "steps": ["a"]}]}', b"\xff\xfe{}",
                                 b'{"items": ' + b"[" * 5000 + b"]" * 5000 + b"}"])
def test_malformed_bytes_are_400(server, raw):
    reply = httpx.post(server.url + "/score", content=raw, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and reply.json()["detail"].startswith("body: Invalid JSON")


def test_remote_trl_reward_from_threads(server, problems):
    reward = remote_reward(server.url)
    assert reward.__name__ == "remote_reward"
    prompts = [[{"role": "user", "content": p.problem}] for p in problems[:4]]
    completions = [[{"role": "assistant", "content": p.solution}] for p in problems[:4]]
    answers = [p.answer for p in problems[:3]] + [None]
    outputs: list = [None] * 4

    def call(index: int) -> None:
        outputs[index] = reward(prompts, completions, answer=answers, completion_ids=[[1]] * 4)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(out == outputs[0] for out in outputs)
    assert all(1.0 < r <= 2.0 for r in outputs[0][:3]) and outputs[0][3] is None
    with pytest.raises(ValueError, match="2 'answer' values"):
        reward(prompts, completions, answer=answers[:2])


def test_client_retries_until_the_server_is_up():
    probe = BackgroundServer(create_app(ServeConfig()))
    port = probe.port
    probe.stop()
    client = RewardClient(f"http://127.0.0.1:{port}", timeout=5, retries=1, backoff_s=0.01)
    with pytest.raises(ConnectionError, match="after 2 attempts"):
        client.health()
    late = BackgroundServer(create_app(ServeConfig()), port=port)
    timer = threading.Timer(0.3, late.start)
    timer.start()
    try:
        patient = RewardClient(f"http://127.0.0.1:{port}", timeout=5, retries=6, backoff_s=0.1)
        assert patient.verify([("1/2", "0.5")])[0]["equal"]
        with pytest.raises(ServeError, match="HTTP 422: pairs"):
            patient.verify([("1", "x")] * 300)
    finally:
        timer.join()
        late.stop()


def test_batcher_isolates_a_failing_item():
    def double(values: list[int]) -> list[int]:
        if 13 in values:
            raise ValueError("unlucky")
        time.sleep(0.02)
        return [2 * v for v in values]

    batcher = DynamicBatcher(double, max_batch=8, max_wait_s=0.05)
    futures = batcher.submit([1, 13, 3])
    assert futures[0].result(5) == 2 and futures[2].result(5) == 6
    with pytest.raises(RuntimeError, match="model failed"):
        futures[1].result(5)
    assert batcher.stats.failures == 1
    batcher.close()
