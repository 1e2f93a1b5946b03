"""make bench: run the benchmarks, write bench/results/<name>.json, print markdown tables.

python -m bench.run [--only catalogue]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def table(rows: dict[str, dict[str, float]], columns: list[str]) -> str:
    header = "| case | " + " | ".join(columns) + " |\n|---|" + "---:|" * len(columns) + "\n"
    lines = [
        f"| {name} | "
        + " | ".join(f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c]) for c in columns)
        + " |"
        for name, row in rows.items()
    ]
    return header + "\n".join(lines)


def print_journeys(result: dict) -> None:
    """The journeys' tables. The checkout step includes the payment (the HTTP call to the payment service);
    the shop's CPU per journey leaves the payment service out, which has its own CPU per payment."""
    for backend in result["backends"]:
        print(f"\n{backend['backend']}\n")
        rows = {}
        for level, row in backend["rows"].items():
            steps = row["steps"]
            payments = row.get("payments", {})
            rows[level] = {
                "completed": f"{row['completed']}/{row['journeys']}",
                "journeys_per_s": row["journeys_per_second"],
                **{f"{step}_p50/p95_ms": f"{v['p50_ms']:.0f}/{v['p95_ms']:.0f}" for step, v in steps.items()},
                "paid/declined/unknown": "/".join(str(payments.get(k, 0)) for k in ("approved", "declined", "unknown")),
                "shop_cpu_ms_per_journey": row["server_cpu_ms_per_journey"],
                "payment_service_cpu_ms_per_payment": row.get("payment_service_cpu_ms_per_payment", float("nan")),
                "write_hold_p99_ms_<=": row["hold_p99_ms_at_most"],
                "longest_hold_ms_<=": row["longest_hold_ms_at_most"],
            }
        print(table(rows, list(next(iter(rows.values())))))
        ten = backend["rows"].get("10 shoppers", {})
        if "register_p95_vs_1_shopper_p50" in ten:
            print(
                f"\nregister p95 @10 / p50 @1: {ten['register_p95_vs_1_shopper_p50']:.2f} (target <= 6); "
                f"login: {ten['login_p95_vs_1_shopper_p50']:.2f} (target <= 6)"
            )
        if "isolation" not in backend:  # a small run (python -m bench.journeys --bench)
            continue
        iso = backend["isolation"]
        print(
            f"browse p95 alone {iso['browse_p95_ms_alone']:.1f} ms, with 10 journeys "
            f"{iso['browse_p95_ms_with_10_journeys']:.1f} ms: {iso['ratio']:.2f}x (target <= 1.5)"
        )
        browse = backend["browse_at_10"]
        print(
            f"browse at 10 shoppers: {browse['events_per_second']:.0f} events/s, "
            f"{browse['server_cpu_ms_per_event']:.2f} ms server CPU per event; profile: {browse['profile']}"
        )


def print_browser_relay(result: dict) -> None:
    """Requests/s and the shop's CPU per request for relayed browser batches and the GET /ping baseline."""
    rows = {
        name: {
            "requests_per_s": row["requests_per_second"],
            "spans_per_s": row.get("spans_per_second", 0.0),
            "server_cpu_ms_per_request": row["server_cpu_ms_per_request"],
            "server_cpu_us_per_span": row.get("server_cpu_us_per_span", 0.0),
            "cpu_of_one_core": row["server_cpu_share_of_a_core"],
        }
        for name, row in result["rows"].items()
    }
    print(table(rows, list(next(iter(rows.values())))))
    print(
        f"\n{result['spans_per_batch']} spans a batch ({result['batch_bytes']} bytes of OTLP/JSON), "
        f"{result['clients']} clients, each request from an address of its own; answers: {result['statuses']}. "
        f"The relay's own CPU per span (over the /ping baseline): {result['relay_cpu_us_per_span_over_ping']:.0f} us. "
        f"Browser spans during the turns: {result['browser_spans_during_turns']}; "
        f"the collector received {result['spans_received_by_collector']}."
    )


def main() -> None:
    from bench import browser_relay, catalogue, contention, journeys, latency, memory, overhead

    benchmarks = {
        "journeys": journeys.run,
        "latency": latency.run,
        "overhead": overhead.run,
        "browser_relay": browser_relay.run,
        "catalogue": catalogue.run,
        "contention": contention.run,
        "memory": memory.run,
    }
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=sorted(benchmarks))
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    for name, benchmark in benchmarks.items():
        if args.only and name != args.only:
            continue
        print(f"running {name} ...", flush=True)
        result = {"benchmark": name, "machine": machine(), **benchmark()}
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        print(f"\n### {name}\n")
        if name == "journeys":
            print_journeys(result)
        elif name == "latency":
            print(table(result["rows"], ["per_second", "p50_ms", "p95_ms", "p99_ms", "p95_vs_1_shopper", "errors"]))
        elif name == "overhead":
            print(table(result["rows"], ["events_per_second", "p50_ms", "p95_ms", "p99_ms", "server_cpu_ms_per_event"]))
            by_turn = result["throughput_ratio_by_turn"]
            print(
                f"\nthroughput on/off: {result['throughput_ratio']:.3f} (turn pairs {by_turn['min']:.3f} to "
                f"{by_turn['max']:.3f})   p95 on/off: {result['p95_ratio']:.3f}   "
                f"server CPU per event on/off: {result['cpu_per_event_ratio']:.3f}"
            )
            if "parts" in result["profile_on"]:
                print("\nwhere the server's CPU goes with observability on (py-spy):\n")
                parts = {name: {"share_percent": share} for name, share in result["profile_on"]["parts"].items()}
                print(table(parts, ["share_percent"]))
            else:
                print(f"\nno profile: {result['profile_on']['skipped']}")
            spans = result["db_spans"]
            print(
                f"listing DB work: {spans['listing_db_ms']:.2f} ms plain, "
                f"{spans['listing_db_ms_with_spans']:.2f} ms with a span per statement ({spans['ratio']:.2f}x)"
            )
        elif name == "browser_relay":
            print_browser_relay(result)
        elif name == "memory":
            print(table({"server": result["rows"]["server"]}, list(result["rows"]["server"])))
            print()
            anonymous = result["rows"]["anonymous"]
            print(table({f"{memory.ANONYMOUS} anonymous x {memory.ANONYMOUS_ROUNDS}": anonymous}, list(anonymous)))
            print()
            print(table({"state": result["rows"]["state"]}, list(result["rows"]["state"])))
        elif name == "catalogue":
            print(table(result["cases"], ["p50_ms", "p95_ms", "baseline_p95_ms", "p95_ratio"]))
            for query, plan in result["query_plans"].items():
                print(f"\n{query}: {' / '.join(plan)}")
        else:
            print(table({"checkout": result["summary"]}, list(result["summary"])))
        print()


if __name__ == "__main__":
    main()
