"""The browser relay's server cost: CPU per relayed span (POST /otlp/v1/traces,
ecom_reflex/observability/browser_relay.py) with forwarding to a real OTLP receiver on.

Browsers post batches as reflex-otel's bundle sends them: OTLP/JSON, resource service.name
"<SERVICE_NAME>-frontend", SPANS_PER_BATCH spans (the five web vitals, a socket.connect and
seven clicks, each a PRODUCER span and its ui.answer child), every span with its `url.path`.
The relay parses, measures (the browser metrics), samples (BROWSER_TRACE_SAMPLE_RATIO, 1 by
default: every trace forwarded) and forwards them to the receiver, which runs in a process of
its own as a collector would, so its decoding is not the shop's CPU.

The relay allows 60 exports a minute per client address (services/throttling.py); the shop
believes X-Forwarded-For from TRUSTED_PROXIES (127.0.0.1 in bench shops, security.py
`forwarded_client`), so the load generator speaks as a proxy in front of many browsers: each
request comes from an address of its own, as a crowd of shoppers' exports would.

Baseline in the same run: the same number of concurrent clients asking GET /ping (Reflex's own
route, through the same middleware), turns taking turns ABAB. The shop's CPU (its process
tree without the payment service, from /proc) per request of each; the relay's own cost per
span is the difference per request divided by the spans in a batch.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import urllib.request
from dataclasses import dataclass, field

import aiohttp

from bench.common import ReceiverProcess, shop
from testkit.servers import ShopProcess

RELAY_PATH = "/otlp/v1/traces"
SERVICE_NAME = "ecom-shop"
SPANS_PER_BATCH = 20
CLIENTS = 8
SECONDS_PER_TURN = 10
PAIRS = 3  # ping, relay; relay, ping; ...
DISTINCT_BATCHES = 200

_SESSION = "reflex___state____state.ecom_reflex___state___session____session_state"
_CART = f"{_SESSION}.ecom_reflex___state___cart____cart_state"
# (the page a click happens on, the event it sends)
CLICKS = (
    ("/", f"{_CART}.ecom_reflex___state___catalog____catalog_state.load_listing"),
    ("/", f"{_CART}.ecom_reflex___state___catalog____catalog_state.search"),
    ("/product/7", f"{_CART}.ecom_reflex___state___catalog____product_state.load_product"),
    ("/product/7", f"{_CART}.ecom_reflex___state___catalog____product_state.step_quantity"),
    ("/product/7", f"{_CART}.ecom_reflex___state___catalog____product_state.add_selected"),
    ("/cart", f"{_CART}.load_cart"),
    ("/cart", f"{_CART}.set_line_quantity"),
)
VITALS = (("TTFB", 180.0, "good"), ("FCP", 1450.0, "good"), ("LCP", 2300.0, "good"), ("CLS", 0.02, "good"),
          ("INP", 120.0, "good"))  # fmt: skip


def _value(value: object) -> dict:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _span(rng: random.Random, name: str, kind: int, start_ns: int, end_ns: int, attributes: dict,
          trace_id: str | None = None, parent: str = "") -> dict:  # fmt: skip
    """A span as the browser's OTLP/JSON exporter writes it (ids in hex, times as strings, OTLP's kind)."""
    span = {
        "traceId": trace_id or rng.randbytes(16).hex(),
        "spanId": rng.randbytes(8).hex(),
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(end_ns),
        "attributes": [{"key": key, "value": _value(value)} for key, value in attributes.items()],
        "droppedAttributesCount": 0,
        "events": [],
        "droppedEventsCount": 0,
        "status": {"code": 0},
        "links": [],
        "droppedLinksCount": 0,
    }
    if parent:
        span["parentSpanId"] = parent
    return span


INTERNAL, PRODUCER = 1, 4  # OTLP's SpanKind numbers


def browser_batch(rng: random.Random, service_name: str = SERVICE_NAME) -> bytes:
    """One export of a shopper's tab: SPANS_PER_BATCH spans of OTLP/JSON."""
    now = time.time_ns()
    spans = []
    for vital, value, rating in VITALS:
        attributes = {"url.path": "/", "web_vital.name": vital, "web_vital.value": value, "web_vital.rating": rating,
                      "web_vital.id": f"v5-{rng.getrandbits(40)}", "web_vital.navigation_type": "navigate"}  # fmt: skip
        length = 0 if vital == "CLS" else int(value * 1e6)
        spans.append(_span(rng, f"web_vital.{vital}", INTERNAL, now - length, now, attributes))
    spans.append(_span(rng, "socket.connect", INTERNAL, now, now, {"url.path": "/", "reflex.socket.connect_count": 1}))
    for path, event in CLICKS:
        sent = now + rng.randrange(10**9, 60 * 10**9)
        producer = _span(rng, event, PRODUCER, sent, sent, {"url.path": path, "reflex.event.name": event})
        answered = sent + rng.randrange(40, 400) * 10**6
        attributes = {"url.path": path, "reflex.event.name": event}
        answer = _span(rng, "ui.answer", INTERNAL, sent, answered, attributes, producer["traceId"], producer["spanId"])
        spans += [producer, answer]
    assert len(spans) == SPANS_PER_BATCH
    resource = {"attributes": [{"key": key, "value": _value(value)} for key, value in {
        "service.name": f"{service_name}-frontend", "telemetry.sdk.language": "webjs",
        "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "2.10.0"}.items()],
        "droppedAttributesCount": 0}  # fmt: skip
    export = {"resourceSpans": [{"resource": resource, "scopeSpans": [
        {"scope": {"name": "reflex", "version": "0.10.1"}, "spans": spans}]}]}  # fmt: skip
    return json.dumps(export, separators=(",", ":")).encode()


@dataclass
class Turn:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0
    cpu_s: float = 0.0


def _address(n: int) -> str:
    """The n-th browser's address (10.0.0.1 onwards): every request one of its own."""
    n += 1
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


async def _load(url: str, relay: bool, seconds: float, batches: list[bytes], first: int) -> Turn:
    turn = Turn()
    counter = iter(range(first, first + 10**9))
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            n = next(counter)
            headers = {"X-Forwarded-For": _address(n)}
            if relay:
                headers["Content-Type"] = "application/json"
                request = session.post(url + RELAY_PATH, data=batches[n % len(batches)], headers=headers)
            else:
                request = session.get(url + "/ping", headers=headers)
            async with request as response:
                await response.read()
                turn.statuses[response.status] = turn.statuses.get(response.status, 0) + 1
            turn.requests += 1

    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        await asyncio.gather(*(client(session) for _ in range(CLIENTS)))
        turn.elapsed = time.monotonic() - started
    return turn


def _turn(server: ShopProcess, relay: bool, batches: list[bytes], first: int) -> Turn:
    before = server.cpu_seconds()[0]
    turn = asyncio.run(_load(server.url, relay, SECONDS_PER_TURN, batches, first))
    turn.cpu_s = server.cpu_seconds()[0] - before
    return turn


def browser_span_counts(server: ShopProcess) -> dict[str, float]:
    """browser_spans_total by outcome, from the shop's /metrics."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        outcome: float(value)
        for outcome, value in re.findall(r'^browser_spans_total\{outcome="(\w+)"\} (\S+)$', text, re.MULTILINE)
    }


def _pooled(turns: list[Turn], spans_per_request: int) -> dict[str, float]:
    requests = sum(t.requests for t in turns)
    elapsed = sum(t.elapsed for t in turns)
    cpu = sum(t.cpu_s for t in turns)
    row = {
        "requests": requests,
        "requests_per_second": requests / elapsed,
        "server_cpu_ms_per_request": 1000 * cpu / requests,
        "server_cpu_share_of_a_core": cpu / elapsed,
    }
    if spans_per_request:
        row["spans_per_second"] = requests * spans_per_request / elapsed
        row["server_cpu_us_per_span"] = 1e6 * cpu / (requests * spans_per_request)
    return row


def run() -> dict:
    receiver = ReceiverProcess()
    server = shop(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, SERVICE_NAME=SERVICE_NAME)
    rng = random.Random(27)
    batches = [browser_batch(rng) for _ in range(DISTINCT_BATCHES)]
    turns: dict[str, list[Turn]] = {"ping": [], "relay": []}
    sent = 0
    try:
        server.setup()
        server.start()
        for relay in (False, True):  # warm-up
            sent += asyncio.run(_load(server.url, relay, 2, batches, sent)).requests
        before = browser_span_counts(server)
        for pair in range(PAIRS):
            for name in ("ping", "relay") if pair % 2 == 0 else ("relay", "ping"):
                turn = _turn(server, name == "relay", batches, sent)
                sent += turn.requests
                turns[name].append(turn)
        time.sleep(3)  # the last forwards reach the receiver
        after = browser_span_counts(server)
    finally:
        server.stop()
        received = receiver.stop()
    rows = {"ping (baseline)": _pooled(turns["ping"], 0), "relay": _pooled(turns["relay"], SPANS_PER_BATCH)}
    statuses: dict[str, dict[int, int]] = {}
    for name, name_turns in turns.items():
        for turn in name_turns:
            for status, count in turn.statuses.items():
                statuses.setdefault(name, {})[status] = statuses.get(name, {}).get(status, 0) + count
    marginal_ms = rows["relay"]["server_cpu_ms_per_request"] - rows["ping (baseline)"]["server_cpu_ms_per_request"]
    return {
        "clients": CLIENTS,
        "seconds_per_turn": SECONDS_PER_TURN,
        "turns_each": PAIRS,
        "spans_per_batch": SPANS_PER_BATCH,
        "batch_bytes": sum(map(len, batches)) // len(batches),
        "rows": rows,
        "statuses": statuses,
        "relay_cpu_us_per_span_over_ping": 1000 * marginal_ms / SPANS_PER_BATCH,
        "browser_spans_during_turns": {outcome: after.get(outcome, 0) - before.get(outcome, 0) for outcome in after},
        "spans_received_by_collector": received,  # by service.name: the shop's own spans too
    }
