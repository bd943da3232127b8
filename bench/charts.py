#!/usr/bin/env python3
"""The charts `make bench` draws from its own JSON.

  python bench/charts.py --bench target/bench/bench.json --load target/bench/load.json --out-dir docs/img

- cold-start.png, from bench.json (bench/run.py's report): the cold start
  p50 of each function (whisker: p99), of the floors (examples/floor_*.rs)
  and of the Python peer (bench/peer), in ms; beside it their peak RSS (p50)
  in MiB.
- load.png, from load.json: warm latency p50 and p99 (ms) against the number
  of concurrent instances, per function; below it invocations/s.

A chart whose input file is missing is skipped (said on stderr); an input
that is not what bench/run.py writes fails the run with the file and the
field at fault (exit 1). The PNGs are 900 px wide and the same bytes for the
same input and matplotlib: no date or version in their metadata.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Optional

import matplotlib

matplotlib.use("Agg")  # files only, whatever display the shell has
from matplotlib.figure import Figure  # noqa: E402  (after the backend is chosen)
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

# Our functions, in bench/run.py's order (rows of other names follow them).
FUNCTIONS = ["signup", "verify", "update", "keys", "sessions", "management"]
WIDTH_PX = 900
DPI = 100
# matplotlib's PNG writer adds a "Software" entry (its version) unless told
# not to; nothing else that changes between runs is written.
PNG_METADATA = {"Software": None}
# Every text in the bundled DejaVu Sans, never a system font: the same
# pixels on any machine with the same matplotlib.
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
# One colour per kind of row in cold-start.png.
KINDS = {
    "function": ("#1f77b4", "our functions (Rust)"),
    "floor": ("#9a9a9a", "floors: a lambda_http hello world; + one DynamoDB PutItem"),
    "peer": ("#e4761b", "Python peer: signup on awslambdaric + boto3 + segno"),
}


class InputError(Exception):
    """An input file that is not what bench/run.py (or the load run) writes."""


# ---------------------------------------------------------------- reading


def load(path: Path) -> Optional[dict]:
    """The JSON document at `path`, None when there is no such file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise InputError(f"{path}: cannot read it: {e}") from None
    try:
        document = json.loads(text)
    except ValueError as e:
        raise InputError(f"{path}: not JSON: {e}") from None
    if not isinstance(document, dict):
        raise InputError(f"{path}: expected a JSON object at the top, got {type(document).__name__}")
    return document


def check(value: Any, name: str, kind: type, source: Path) -> Any:
    """`value` checked to be of `kind` (float: a finite number ≥ 0; int: a
    whole number ≥ 1); the error names the file and the field."""
    if kind is float:
        # JSON has one number type; a bool is not one.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InputError(f"{source}: {name} must be a non-negative number, got {value!r}")
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{source}: {name} must be a whole number ≥ 1, got {value!r}")
        return value
    if not isinstance(value, kind):
        raise InputError(f"{source}: {name} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def field(document: Any, dotted: str, kind: type, source: Path) -> Any:
    """document[a][b]… for dotted "a.b…", checked to be of `kind`."""
    value = document
    walked = []
    for key in dotted.split("."):
        walked.append(key)
        if not isinstance(value, dict) or key not in value:
            raise InputError(f"{source}: missing field {'.'.join(walked)}")
        value = value[key]
    return check(value, dotted, kind, source)


def optional_group(document: dict, key: str, source: Path) -> dict:
    """report[key] (floors, peer): may be absent, must be an object if there."""
    group = document.get(key, {})
    if group is None:
        return {}
    if not isinstance(group, dict):
        raise InputError(f"{source}: {key} must be an object of results, got {type(group).__name__}")
    return group


def describe_machine(machine: Any) -> str:
    """"<cpu>, <n> cores, <arch>" from bench/run.py's machine object (or a plain string)."""
    if isinstance(machine, str):
        return machine
    if not isinstance(machine, dict):
        return "unknown machine"
    parts = [str(machine.get("cpu") or "unknown CPU")]
    if machine.get("cores"):
        parts.append(f"{machine['cores']} cores")
    if machine.get("arch"):
        parts.append(str(machine["arch"]))
    return ", ".join(parts)


def subtitle(document: dict) -> str:
    bits = [describe_machine(document.get("machine")), str(document.get("date") or "undated")]
    if document.get("commit"):
        bits.append(f"commit {document['commit']}")
    return " · ".join(bits)


def fmt_ms(ms: float) -> str:
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def fmt_mib(mib: float) -> str:
    return f"{mib:.0f} MiB" if mib >= 100 else f"{mib:.1f} MiB"


# ---------------------------------------------------------------- cold-start.png


def cold_rows(report: dict, source: Path) -> list[dict]:
    """One row per result with a cold start: our functions, then the floors, then the peer."""
    functions = field(report, "functions", dict, source)
    groups = [
        ("function", "functions", functions),
        ("floor", "floors", optional_group(report, "floors", source)),
        ("peer", "peer", optional_group(report, "peer", source)),
    ]
    rows = []
    for kind, key, group in groups:
        names = list(group)
        if kind == "function":
            names = [f for f in FUNCTIONS if f in group] + [f for f in group if f not in FUNCTIONS]
        for name in names:
            result = group[name]
            if not isinstance(result, dict):
                raise InputError(f"{source}: {key}.{name} must be an object, got {type(result).__name__}")
            if "cold" not in result:
                # bench/run.py's table skips such a row too; say so rather than fail.
                print(f"charts: {source}: {key}.{name} has no cold start: left out", file=sys.stderr)
                continue
            at = f"{key}.{name}.cold"
            rows.append({
                "name": name,
                "kind": kind,
                "p50_ms": field(report, f"{at}.p50_ns", float, source) / 1e6,
                "p99_ms": field(report, f"{at}.p99_ns", float, source) / 1e6,
                "rss_mib": field(report, f"{at}.peak_rss_bytes.p50", float, source) / 1048576,
                "runs": result["cold"].get("runs"),
            })
    if not rows:
        raise InputError(f"{source}: no cold start results to draw")
    return rows


def draw_cold_start(report: dict, rows: list[dict], out: Path) -> None:
    # A half-row gap between kinds, so the groups read as groups.
    positions, y, previous = [], 0.0, rows[0]["kind"]
    for row in rows:
        if row["kind"] != previous:
            y += 0.5
            previous = row["kind"]
        positions.append(y)
        y += 1.0
    labels = [row["name"] + {"function": "", "floor": " (floor)", "peer": " (peer)"}[row["kind"]] for row in rows]
    colours = [KINDS[row["kind"]][0] for row in rows]

    height_in = 1.9 + 0.42 * y
    fig = Figure(figsize=(WIDTH_PX / DPI, height_in), dpi=DPI, layout="constrained")
    time_ax, rss_ax = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})

    # Cold start p50 bars, a whisker to the p99, the p50 written past the whisker.
    p50 = [row["p50_ms"] for row in rows]
    p99 = [max(row["p99_ms"], row["p50_ms"]) for row in rows]
    time_ax.barh(positions, p50, color=colours, height=0.7)
    time_ax.errorbar(p50, positions, xerr=[[0] * len(rows), [b - a for a, b in zip(p50, p99)]],
                     fmt="none", ecolor="#333333", elinewidth=1, capsize=3)
    right = max(p99) or 1.0
    for yy, a, b in zip(positions, p50, p99):
        time_ax.text(b + right * 0.015, yy, fmt_ms(a), va="center", fontsize=9)
    time_ax.set_xlim(0, right * 1.22)  # room for the last label
    runs = (report.get("settings") or {}).get("cold_runs") or rows[0]["runs"]
    time_ax.set_title(f"cold start, p50 of {runs} (whisker: p99)" if runs else "cold start, p50 (whisker: p99)")
    time_ax.set_xlabel("ms, process spawned → first response posted")

    # Peak RSS.
    rss = [row["rss_mib"] for row in rows]
    rss_ax.barh(positions, rss, color=colours, height=0.7)
    rss_right = max(rss) or 1.0
    for yy, value in zip(positions, rss):
        rss_ax.text(value + rss_right * 0.02, yy, fmt_mib(value), va="center", fontsize=9)
    rss_ax.set_xlim(0, rss_right * 1.3)
    rss_ax.set_title("peak RSS (VmHWM), p50")
    rss_ax.set_xlabel("MiB")

    time_ax.set_yticks(positions, labels)
    for tick, colour, row in zip(time_ax.get_yticklabels(), colours, rows):
        if row["kind"] != "function":
            tick.set_color(colour)
            tick.set_fontweight("bold")
    time_ax.invert_yaxis()  # first row on top (the y axis is shared)
    for ax in (time_ax, rss_ax):
        ax.grid(axis="x", color="#dddddd", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.tick_params(axis="y", length=0)

    kinds_present = [k for k in KINDS if any(row["kind"] == k for row in rows)]
    fig.legend(handles=[Patch(color=KINDS[k][0], label=KINDS[k][1]) for k in kinds_present],
               loc="outside lower center", ncols=1 if len(kinds_present) > 2 else len(kinds_present),
               frameon=False, fontsize=9)
    fig.suptitle(f"Cold start per function, through a Lambda Runtime API emulator\n{subtitle(report)}",
                 fontsize=11)
    save(fig, out)


# ---------------------------------------------------------------- load.png


def load_series(document: dict, source: Path) -> dict[str, list[dict]]:
    """{function: levels sorted by instances}, each level's numbers checked."""
    functions = field(document, "functions", dict, source)
    if not functions:
        raise InputError(f"{source}: functions is empty: no load results to draw")
    ordered = [f for f in FUNCTIONS if f in functions] + [f for f in functions if f not in FUNCTIONS]
    series = {}
    for name in ordered:
        levels = field(document, f"functions.{name}.levels", list, source)
        if not levels:
            raise InputError(f"{source}: functions.{name}.levels is empty")
        points = []
        for i, level in enumerate(levels):
            at = f"functions.{name}.levels[{i}]"
            if not isinstance(level, dict):
                raise InputError(f"{source}: {at} must be an object, got {type(level).__name__}")
            points.append({
                "instances": level_field(level, at, "instances", int, source),
                "p50_ms": level_field(level, at, "p50_ns", float, source) / 1e6,
                "p99_ms": level_field(level, at, "p99_ns", float, source) / 1e6,
                "per_s": level_field(level, at, "invocations_per_s", float, source),
            })
        points.sort(key=lambda p: p["instances"])
        counts = [p["instances"] for p in points]
        if len(set(counts)) != len(counts):
            raise InputError(f"{source}: functions.{name}.levels names the same instance count twice")
        series[name] = points
    return series


def level_field(level: dict, at: str, key: str, kind: type, source: Path) -> Any:
    """One field of a load level, named in errors as functions.<f>.levels[i].<key>
    (not a dotted walk: the list index is part of the name)."""
    if key not in level:
        raise InputError(f"{source}: missing field {at}.{key}")
    return check(level[key], f"{at}.{key}", kind, source)


def draw_load(document: dict, series: dict[str, list[dict]], out: Path) -> None:
    # tab10 without its orange, which cold-start.png gives the Python peer.
    colours = [c for i, c in enumerate(matplotlib.colormaps["tab10"].colors) if i != 1]
    fig = Figure(figsize=(WIDTH_PX / DPI, 7.2), dpi=DPI, layout="constrained")
    latency_ax, rate_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})

    instance_counts = sorted({p["instances"] for points in series.values() for p in points})
    for i, (name, points) in enumerate(series.items()):
        colour = colours[i % len(colours)]
        x = [p["instances"] for p in points]
        latency_ax.plot(x, [p["p50_ms"] for p in points], color=colour, marker="o", linewidth=2)
        latency_ax.plot(x, [p["p99_ms"] for p in points], color=colour, marker="s", markersize=4,
                        linestyle="--", linewidth=1.2)
        rate_ax.plot(x, [p["per_s"] for p in points], color=colour, marker="o", linewidth=2)

    latency_ax.set_ylabel("latency, ms\n(event handed out → response)")
    latency_ax.set_ylim(bottom=0)
    latency_ax.set_title("warm latency: p50 (solid) and p99 (dashed)")
    rate_ax.set_ylabel("invocations/s\n(all instances)")
    rate_ax.set_ylim(bottom=0)
    rate_ax.set_title("throughput")
    rate_ax.set_xlabel("concurrent instances (one invocation at a time each, as in Lambda)")
    # Instance counts double (1, 2, 4, 8, …): a log2 axis spaces them evenly,
    # ticked at the counts measured and nowhere else.
    rate_ax.set_xscale("log", base=2)
    rate_ax.set_xticks(instance_counts, [str(n) for n in instance_counts])
    rate_ax.minorticks_off()
    if len(instance_counts) == 1:
        rate_ax.set_xlim(instance_counts[0] / 1.5, instance_counts[0] * 1.5)
    for ax in (latency_ax, rate_ax):
        ax.grid(color="#dddddd", linewidth=0.8)
        ax.set_axisbelow(True)

    handles = [Line2D([], [], color=colours[i % len(colours)], linewidth=2, label=name)
               for i, name in enumerate(series)]
    handles += [Line2D([], [], color="#555555", linewidth=2, marker="o", label="p50"),
                Line2D([], [], color="#555555", linewidth=1.2, linestyle="--", marker="s", markersize=4,
                       label="p99")]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 8), frameon=False, fontsize=9)
    fig.suptitle(f"Warm path under load, per function\n{subtitle(document)}", fontsize=11)
    save(fig, out)


# ---------------------------------------------------------------- output


def save(fig: Figure, out: Path) -> None:
    # No bbox_inches="tight": it would change the width from WIDTH_PX.
    fig.savefig(out, format="png", dpi=DPI, metadata=PNG_METADATA)
    print(f"charts: wrote {out}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", type=Path, default=Path("target/bench/bench.json"),
                        help="bench/run.py's report (cold-start.png)")
    parser.add_argument("--load", type=Path, default=Path("target/bench/load.json"),
                        help="the load run's results (load.png)")
    parser.add_argument("--out-dir", type=Path, default=Path("docs/img"))
    args = parser.parse_args()

    try:
        # Read and check both inputs before drawing either: a malformed file
        # fails the run before anything is (over)written.
        report = load(args.bench)
        rows = cold_rows(report, args.bench) if report is not None else None
        load_doc = load(args.load)
        series = load_series(load_doc, args.load) if load_doc is not None else None
        args.out_dir.mkdir(parents=True, exist_ok=True)
        with matplotlib.rc_context(STYLE):
            if rows is None:
                print(f"charts: no {args.bench}: cold-start.png not drawn", file=sys.stderr)
            else:
                draw_cold_start(report, rows, args.out_dir / "cold-start.png")
            if series is None:
                print(f"charts: no {args.load}: load.png not drawn", file=sys.stderr)
            else:
                draw_load(load_doc, series, args.out_dir / "load.png")
    except InputError as e:
        print(f"charts: FAILED: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"charts: FAILED: cannot write the charts: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
