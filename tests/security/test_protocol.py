"""Attacks on the websocket protocol itself: events that do not exist, data that is not an event,
and Reflex's own frontend-exception event used to flood the log."""

from __future__ import annotations

import json
import time

from bench.loadgen import AUTH_FORM, CART, NAMESPACE, ROOT, router_data
from tests.security.conftest import Client, in_own_loop

FRONTEND_EXCEPTION = f"{ROOT}.reflex___state____frontend_event_exception_state.handle_frontend_exception"


def appended_lines(log_file, offset: int) -> list[dict]:
    with log_file.open(encoding="utf-8") as log:
        log.seek(offset)
        return [json.loads(line) for line in log.read().splitlines() if line.startswith("{")]


async def _send_raw(url: str, address: str, messages: list) -> Client:
    client = Client(url, address)
    await client.connect("/")
    for message in messages:
        await client.client.emit("event", message, namespace=NAMESPACE)
    await client.client.sleep(2)
    await client.close()
    return client


def event(name: str, payload: dict) -> dict:
    return {"name": name, "payload": payload, "router_data": router_data("/")}


def test_unknown_and_undecodable_events_make_one_quiet_warning_with_nothing_secret(shop_server):
    offset = shop_server.log_file.stat().st_size
    messages = [event(f"{ROOT}.no_such_state.no_such_handler\x1b[2J", {}), event(f"{ROOT}.nope", {"x": 1}),
                "not json {", ["not", "a", "dict"], {"payload": "no name"}] * 6  # fmt: skip
    client = in_own_loop(_send_raw(shop_server.url, "198.18.90.1", messages))
    time.sleep(1)
    lines = appended_lines(shop_server.log_file, offset)
    text = json.dumps(lines)
    for secret in (client.token, "198.18.90.1", "x-forwarded-for", "sec-websocket-key"):
        assert secret not in text, secret
    assert not [line for line in lines if line["level"] in ("ERROR", "CRITICAL")], lines
    refused = [line for line in lines if line["message"].startswith("refused an event")]
    assert len(refused) == 1 and refused[0]["level"] == "WARNING" and "\x1b" not in refused[0]["message"]
    # The shop still answers this client's real events.
    assert in_own_loop(_send_raw(shop_server.url, "198.18.90.1", [])).token


def test_events_whose_arguments_do_not_fit_are_one_quiet_warning(shop_server):
    offset = shop_server.log_file.stat().st_size
    login = f"{AUTH_FORM}.ecom_reflex___state___auth____login_state.log_in"
    add = f"{CART}.add_to_cart"
    messages = [event(login, {"x": 1}), event(add, {}), event(add, {"product_id": 1, "extra": 2})] * 4
    in_own_loop(_send_raw(shop_server.url, "198.18.90.3", messages))
    time.sleep(1)
    lines = appended_lines(shop_server.log_file, offset)
    assert not [line for line in lines if line["level"] in ("ERROR", "CRITICAL")], lines
    assert not [line for line in lines if "exc_info" in line or "Traceback" in json.dumps(line)]
    refused = [line for line in lines if line["message"].startswith("refused an event whose arguments")]
    assert len(refused) == 1 and refused[0]["level"] == "WARNING"


def test_a_frontend_exception_flood_cannot_push_the_audit_trail_out_of_the_log(shop_server):
    before = shop_server.log_file.read_text(encoding="utf-8").splitlines()[-1]
    offset = shop_server.log_file.stat().st_size
    huge = "E" * 900_000  # about what a websocket message may carry (a larger one only drops the socket)
    messages = [event(FRONTEND_EXCEPTION, {"info": huge, "component_stack": "at x"}) for _ in range(40)]
    in_own_loop(_send_raw(shop_server.url, "198.18.90.2", messages))
    time.sleep(1)
    lines = appended_lines(shop_server.log_file, offset)
    reports = [line for line in lines if line["message"].startswith("frontend exception")]
    assert 1 <= len(reports) <= 5
    assert all(len(line["message"]) < 2_200 for line in reports)
    assert shop_server.log_file.stat().st_size - offset < 100_000
    assert before in shop_server.log_file.read_text(encoding="utf-8")  # not rotated away
