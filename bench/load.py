#!/usr/bin/env python3
"""The load simulation behind `make bench` (issue 22): latency against concurrency.

Drives the real function binaries (release) through the Lambda Runtime API
emulator of bench/emulator.py against DynamoDB Local, as bench/run.py does,
at rising concurrency: for each level N, N instances (Lambda execution
environments) start, each answers one unmeasured event (its cold start), then
each is handed --per-instance events at once, which it answers one at a time,
as Lambda does. Latency is event handed out → response posted; throughput is
all answers over the time from the first hand-out to the last answer.

Everything shares this machine's cores: the functions, DynamoDB Local (a JVM)
and the emulator. The curve shows where the machine, not Lambda, saturates:
in AWS each instance has its own share of a core and DynamoDB is a fleet. It
is there to show how the functions behave as instances are added (no lock,
no shared state, no retry storm), not what AWS would measure.

Writes the levels as JSON (--out) for bench/charts.py and prints a table.
No time is asserted; an unexpected status fails the run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: the harness this reuses)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bins", required=True, help="directory of the function binaries (target/release)")
    parser.add_argument("--table", required=True, help="the DynamoDB table (created already)")
    parser.add_argument("--functions", default=os.environ.get("BENCH_LOAD_FUNCTIONS", "verify,signup"))
    parser.add_argument("--levels", default=os.environ.get("BENCH_LOAD_LEVELS", "1,2,4,8,16"),
                        help="concurrent instances, comma-separated")
    parser.add_argument("--per-instance", type=int, default=int(os.environ.get("BENCH_LOAD_PER_INSTANCE", 40)))
    parser.add_argument("--keys", choices=["ec", "rsa"], default=os.environ.get("BENCH_KEYS", "ec"))
    parser.add_argument("--out", help="write the levels as JSON here")
    args = parser.parse_args()
    functions = [f.strip() for f in args.functions.split(",") if f.strip()]
    for function in functions:
        if function not in run.FUNCTIONS:
            parser.error(f"unknown function {function!r} (one of {', '.join(run.FUNCTIONS)})")
    try:
        levels = sorted({int(n) for n in args.levels.split(",") if n.strip()})
    except ValueError:
        parser.error("--levels: whole numbers, comma-separated")
    if not levels or levels[0] < 1 or args.per_instance < 1:
        parser.error("--levels and --per-instance must be at least 1")

    def simulate(workdir: Path, started: list[run.Bench]) -> int:
        bench = run.Bench(args, workdir)
        started.append(bench)
        # update, sessions and management need signed-in users: one per instance.
        if set(functions) & {"update", "sessions", "management"}:
            bench.session_users = bench.signed_in_users(levels[-1])
        report = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": run.machine(),
            "commit": run.commit(),
            "settings": {"levels": levels, "per_instance": args.per_instance,
                         "keys": "ES256 (P-256)" if args.keys == "ec" else "RS256 (RSA-2048)",
                         "requests": {f: run.REQUESTS[f][0] for f in functions}},
            "functions": {},
        }
        for function in functions:
            report["functions"][function] = {"levels": []}
            for n in levels:
                print(f"load: {function}: {n} instance(s) × {args.per_instance} events", file=sys.stderr, flush=True)
                level = bench.warm(function, n, args.per_instance)
                report["functions"][function]["levels"].append(level)
        bench.stop_helpers()
        lines = [f"totp-lambda load · {report['date']} · {report['machine']['cpu']}, "
                 f"{report['machine']['cores']} cores · commit {report['commit']}",
                 f"{'':<10} {'instances':>9} {'p50':>10} {'p99':>10} {'inv/s':>7} {'CPU/inv':>10}"]
        for function, result in report["functions"].items():
            for level in result["levels"]:
                lines.append(f"{function:<10} {level['instances']:>9} {run.fmt_ns(level['p50_ns']):>10} "
                             f"{run.fmt_ns(level['p99_ns']):>10} {level['invocations_per_s']:>7.0f} "
                             f"{'≈' + run.fmt_ns(level['cpu_ns_per_invocation']):>10}")
        print("\n".join(lines))
        run.write_report(report, args.out)
        return 0

    return run.run_guarded("load", simulate)


if __name__ == "__main__":
    sys.exit(main())
