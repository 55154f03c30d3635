"""Mixed load on ``prm serve`` (``bench/serve_load.py --mode mix``): what the requests are and how a reply is judged.

Four kinds of request: ``score`` (valid /score, 1-4 solutions), ``verify`` (valid /verify, an answer
check with a known verdict, some needing sympy), ``hostile`` (/verify of an answer that runs sympy past
the deadline: towers of powers, huge factorials; the verdict must be ``timeout`` within timeout + 1 s)
and ``malformed`` (bad JSON, invalid UTF-8, wrong field types, missing and extra fields, over a limit,
oversized body by Content-Length and chunked, wrong method, unknown path: each must get its 4xx).

Every request goes over its own raw HTTP/1.1 connection (``Connection: close``) carrying a unique
``X-Request-Id``, and the client reads the connection to its end: a request is *lost* when no complete
response came back, and *answered twice* when more than one response came back on its connection.
The phase runner and the monitor of the server's memory and sandbox workers are in
``serve_load_mix_run.py``.
"""

from __future__ import annotations

import json
import random
import socket
import time
from dataclasses import dataclass
from typing import Any

KINDS = ("score", "verify", "hostile", "malformed")
# answers whose sympy work outlives any deadline (tests/test_verify_safety.py and tests/test_serve.py)
HOSTILE = [("2", "\\boxed{9^{9^{9^9}}}"), ("9^{9^{9^{9}}}", "9^{9^{9^{9}}} + 1"), ("1", "10^{10^{10^{10}}}"),
           ("5", "\\boxed{(10^{6})!}"), ("3", "\\boxed{99999999!}"), ("1", "\\boxed{2^{2^{2^{2^{2^{2}}}}}}"),
           ("7", "\\boxed{7^{7^{7^{7}}} - 7^{7^{7^{7}}}}")]
FAILING = ("lost", "twice", "5xx", "status", "slow", "verdict")  # problems that fail the run
# reported, not failing: a valid check's verdict was a timeout (under load), a malformed request got another 4xx
NOTES = ("valid_timeout", "other_4xx")


@dataclass(frozen=True)
class Payload:
    kind: str  # one of KINDS
    name: str  # malformed: the case; otherwise the endpoint
    method: str
    path: str
    body: bytes
    expect: int  # the HTTP status it must get
    verdict: str | None = None  # valid /verify: "equal" or "not_equal"; hostile: "timeout"
    items: int = 0  # /score: solutions sent
    chunked: bool = False  # sent with Transfer-Encoding: chunked (no Content-Length)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def score_payloads(problems: list[dict[str, str]], rng: random.Random, count: int = 200) -> list[Payload]:
    payloads = []
    for _ in range(count):
        items = rng.sample(problems, rng.randint(1, 4))
        payloads.append(Payload("score", "/score", "POST", "/score", _json({"items": items}), 200, items=len(items)))
    return payloads


def _verify_pair(rng: random.Random) -> tuple[str, str, bool]:
    a, form = rng.randint(1, 40), rng.randrange(5)
    if form == 0:  # fraction vs its exact decimal
        b = rng.choice((2, 4, 5, 8))
        return f"\\frac{{{a}}}{{{b}}}", f"so the answer is $\\boxed{{{a / b:g}}}$.", True
    if form == 1:  # a square expanded (sympy)
        return f"(x+{a})^2", f"\\boxed{{x^2+{2 * a}x+{a * a}}}", True
    if form == 2:  # off by one
        return str(a * 7), f"The answer is \\boxed{{{a * 7 + 1}}}", False
    if form == 3:  # a surd simplified (sympy)
        c = rng.choice((2, 3, 5))
        return f"\\sqrt{{{a * a * c}}}", f"\\boxed{{{a}\\sqrt{{{c}}}}}", True
    return f"(x-{a})(x+{a})", f"\\boxed{{x^2-{a * a + 1}}}", False  # not a difference of squares (sympy)


def verify_payloads(rng: random.Random, count: int = 300) -> list[Payload]:
    payloads = []
    for _ in range(count):
        gold, answer, equal = _verify_pair(rng)
        body = _json({"pairs": [{"gold": gold, "answer": answer}]})
        payloads.append(Payload("verify", "/verify", "POST", "/verify", body, 200, "equal" if equal else "not_equal"))
    return payloads


def hostile_payloads() -> list[Payload]:
    return [Payload("hostile", "/verify", "POST", "/verify", _json({"pairs": [{"gold": g, "answer": a}]}), 200,
                    "timeout") for g, a in HOSTILE]


def malformed_payloads(max_body: int) -> list[Payload]:
    item = {"problem": "1+1?", "steps": ["1+1=2", "\\boxed{2}"]}
    huge = _json({"items": [{"problem": "x" * max_body, "steps": ["a"]}]})
    cases: list[tuple[str, str, str, bytes, int]] = [
        ("bad_json", "POST", "/score", b'{"items": [', 400),
        ("empty_body", "POST", "/verify", b"", 400),
        ("bad_utf8", "POST", "/verify", b"\xff\xfe{}", 400),
        ("deep_nesting", "POST", "/score", b'{"items": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400),
        ("wrong_type_verify", "POST", "/verify", _json({"pairs": [{"gold": 1, "answer": ["2"]}]}), 422),
        ("wrong_type_score", "POST", "/score", _json({"items": "1+1=2"}), 422),
        ("missing_field_verify", "POST", "/verify", _json({"pairs": [{"gold": "1"}]}), 422),
        ("missing_field_score", "POST", "/score", _json({"items": [{"steps": ["a"]}]}), 422),
        ("extra_field", "POST", "/score", _json({"items": [item], "extra": 1}), 422),
        ("too_many_pairs", "POST", "/verify", _json({"pairs": [{"gold": "1", "answer": "1"}] * 300}), 422),
        ("oversized", "POST", "/score", huge, 413),
        ("wrong_method", "GET", "/verify", b"", 405),
        ("unknown_path", "POST", "/nope", _json({"items": [item]}), 404),
    ]
    payloads = [Payload("malformed", name, method, path, body, status) for name, method, path, body, status in cases]
    return payloads + [Payload("malformed", "oversized_chunked", "POST", "/score", huge, 413, chunked=True)]


def make_pools(problems: list[dict[str, str]], seed: int, max_body: int) -> dict[str, list[Payload]]:
    rng = random.Random(seed)
    return {"score": score_payloads(problems, rng), "verify": verify_payloads(rng), "hostile": hostile_payloads(),
            "malformed": malformed_payloads(max_body)}


@dataclass
class Reply:
    status: int | None = None  # the first response's status; None: no complete response
    body: bytes = b""
    responses: int = 0  # complete HTTP responses read from the connection (exactly 1 expected)
    error: str | None = None  # why the bytes read are not exactly one well-formed response


def _request_bytes(payload: Payload, host: str, rid: str) -> bytes:
    lines = [f"{payload.method} {payload.path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json",
             f"X-Request-Id: {rid}", "Connection: close"]
    body = payload.body
    if payload.chunked:
        lines.append("Transfer-Encoding: chunked")
        pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    elif payload.method != "GET" or body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _read_to_end(sock: socket.socket, deadline: float) -> tuple[bytes, str | None]:
    chunks = []
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 16)
        except TimeoutError:
            break
        except OSError as error:
            return b"".join(chunks), f"recv: {error.strerror or error}"
        if not chunk:
            return b"".join(chunks), None
        chunks.append(chunk)
    return b"".join(chunks), "client timeout"


def parse_responses(data: bytes) -> Reply:
    """Every HTTP response in ``data`` (a whole connection's bytes); more than one: answered twice."""
    reply, rest = Reply(), data
    while rest:
        head, sep, rest = rest.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
        length = headers.get("content-length", "")
        parts = status_line.split()
        if not sep or not length.isdigit() or len(parts) < 2 or not parts[1].isdigit():
            reply.error = f"not an HTTP response with a Content-Length: {head[:60]!r}"
            break
        body, rest = rest[:int(length)], rest[int(length):]
        if len(body) < int(length):
            reply.error = f"body cut at {len(body)} of {length} bytes"
            break
        reply.responses += 1
        if reply.responses == 1:
            reply.status, reply.body = int(parts[1]), body
    return reply


def exchange(host: str, port: int, payload: Payload, rid: str, timeout: float) -> Reply:
    """Send ``payload`` on a new connection and read the connection to its end (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        return Reply(error=f"connect: {error}")
    send_error = None
    with sock:
        try:
            sock.sendall(_request_bytes(payload, host, rid))
        except OSError as error:  # e.g. the server answered 413 and closed before the whole body was sent
            send_error = f"send: {error.strerror or error}"
        data, read_error = _read_to_end(sock, deadline)
    reply = parse_responses(data)
    if reply.responses == 0:
        reply.status = None
        reply.error = reply.error or read_error or send_error or "connection closed without a response"
    return reply


def _verdicts(body: bytes) -> list[dict[str, Any]]:
    try:
        return json.loads(body)["results"]
    except (ValueError, KeyError, TypeError):
        return []


def judge(payload: Payload, reply: Reply, seconds: float, timeout_s: float) -> tuple[str | None, str]:
    """(problem category or None, verdict label) of one exchange; categories are FAILING or NOTES."""
    if reply.status is None:
        return "lost", reply.error or "no response"
    if reply.responses > 1 or reply.error:  # a second response, or bytes after the first
        return "twice", f"{reply.responses} responses, {reply.error or 'nothing else'}"
    if reply.status >= 500:
        return "5xx", str(reply.status)
    if payload.kind == "malformed":
        if not 400 <= reply.status < 500:
            return "status", str(reply.status)
        return (None if reply.status == payload.expect else "other_4xx"), ""
    if reply.status != 200:
        return "status", str(reply.status)
    results = _verdicts(reply.body)
    if payload.kind == "score":
        ok = len(results) == payload.items and all(r.get("step_scores") for r in results)
        return (None if ok else "verdict"), ""
    got = results[0].get("status") if len(results) == 1 else "?"
    label = f"{got}/{results[0].get('timeout_stage')}" if got == "timeout" else str(got)
    if payload.kind == "hostile":
        if got != "timeout":
            return "verdict", label
        return ("slow" if seconds > timeout_s + 1 else None), label
    if got == "timeout":
        return "valid_timeout", label
    return (None if got == payload.verdict else "verdict"), label
