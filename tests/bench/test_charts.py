"""bench/charts.py: the PNGs `make bench` draws from its JSON, from small fixtures.

Each test runs the script as `make bench` does (a subprocess, this
interpreter, which has the pinned matplotlib) and reads the PNG headers
itself: no image library needed.
"""

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "bench" / "charts.py"
WIDTH_PX = 900  # what the docs lay the charts out for
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MiB = 1048576


def cold(p50_ms: float, p99_ms: float, rss_mib: float) -> dict:
    """A cold start result shaped as bench/run.py writes it."""
    return {
        "runs": 3,
        "p50_ns": int(p50_ms * 1e6),
        "p99_ns": int(p99_ms * 1e6),
        "samples_ns": [],
        "cpu_ns": {"p50": int(p50_ms * 0.8e6), "samples": []},
        "peak_rss_bytes": {"p50": int(rss_mib * MiB), "max": int(rss_mib * MiB), "samples": [], "source": "VmHWM"},
    }


def bench_report() -> dict:
    return {
        "date": "2026-01-02 03:04 UTC",
        "machine": {"cpu": "Test CPU", "cores": 2, "kernel": "Linux 6.1", "arch": "x86_64",
                    "busy_before_percent": 1.0},
        "commit": "abc1234",
        "settings": {"cold_runs": 3},
        "compute": [],
        "functions": {name: {"cold": cold(10 + i, 14 + i, 10.5)}
                      for i, name in enumerate(["signup", "verify", "update", "keys", "sessions", "management"])},
        "floors": {"floor-hello": {"cold": cold(2.0, 2.5, 3.2)}, "floor-put-item": {"cold": cold(18, 25, 9.8)}},
        "peer": {"signup-python": {"cold": cold(270, 320, 49.6)}},
    }


def load_report() -> dict:
    def level(n: int, p50_ms: float, rate: float) -> dict:
        return {"instances": n, "invocations": 20 * n, "p50_ns": int(p50_ms * 1e6), "p99_ns": int(p50_ms * 2.5e6),
                "invocations_per_s": rate, "cpu_ns_per_invocation": 1_200_000}

    return {
        "date": "2026-01-02 03:30 UTC",
        "machine": {"cpu": "Test CPU", "cores": 2, "arch": "x86_64"},
        "commit": "abc1234",
        "functions": {
            "verify": {"levels": [level(n, 12 * n ** 0.8, 80 + 10 * n) for n in (1, 2, 4, 8)]},
            "signup": {"levels": [level(n, 6 * n ** 0.8, 150 + 20 * n) for n in (1, 2, 4, 8)]},
        },
    }


def write(path: Path, document) -> Path:
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def run_charts(bench: Path, load: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHARTS), "--bench", str(bench), "--load", str(load), "--out-dir", str(out)],
        capture_output=True, text=True, timeout=120,
    )


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR, which must come first."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13, f"{path.name}: the first chunk is {kind!r}, not IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert data.endswith(b"IEND\xaeB`\x82"), f"{path.name} does not end with IEND"
    return width, height


def test_draws_both_charts_at_the_documented_width(tmp_path):
    out = tmp_path / "img"
    result = run_charts(write(tmp_path / "bench.json", bench_report()), write(tmp_path / "load.json", load_report()),
                        out)
    assert result.returncode == 0, result.stderr
    for name in ("cold-start.png", "load.png"):
        width, height = png_size(out / name)
        assert width == WIDTH_PX, f"{name} is {width} px wide"
        assert 300 <= height <= 1200, f"{name} is {height} px tall"


def test_reruns_write_the_same_bytes(tmp_path):
    bench, load = write(tmp_path / "bench.json", bench_report()), write(tmp_path / "load.json", load_report())
    for out in ("a", "b"):
        assert run_charts(bench, load, tmp_path / out).returncode == 0
    for name in ("cold-start.png", "load.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), \
            f"{name} differs between two runs on the same input"


def test_a_missing_load_json_still_draws_cold_start(tmp_path):
    out = tmp_path / "img"
    result = run_charts(write(tmp_path / "bench.json", bench_report()), tmp_path / "load.json", out)
    assert result.returncode == 0, result.stderr
    assert png_size(out / "cold-start.png")[0] == WIDTH_PX
    assert not (out / "load.png").exists()
    assert "load.json" in result.stderr and "not drawn" in result.stderr


def test_floors_and_peer_may_be_absent(tmp_path):
    report = bench_report()
    del report["floors"], report["peer"]
    out = tmp_path / "img"
    result = run_charts(write(tmp_path / "bench.json", report), tmp_path / "load.json", out)
    assert result.returncode == 0, result.stderr
    assert png_size(out / "cold-start.png")[0] == WIDTH_PX


def _cold_p50_not_a_number(report: dict) -> dict:
    report["functions"]["signup"]["cold"]["p50_ns"] = "fast"
    return report


def _peer_without_rss(report: dict) -> dict:
    del report["peer"]["signup-python"]["cold"]["peak_rss_bytes"]
    return report


@pytest.mark.parametrize("bench, load, message", [
    ("{not json", load_report(), "bench.json: not JSON"),
    (_cold_p50_not_a_number(bench_report()), load_report(), "functions.signup.cold.p50_ns must be a non-negative number"),
    (_peer_without_rss(bench_report()), load_report(), "missing field peer.signup-python.cold.peak_rss_bytes"),
    (bench_report(), {"date": "x", "functions": {"verify": {"levels": [{"instances": 1, "p50_ns": 1}]}}},
     "missing field functions.verify.levels[0].p99_ns"),
], ids=["not-json", "p50-not-a-number", "peer-without-rss", "load-level-without-p99"])
def test_malformed_input_fails_with_a_message(tmp_path, bench, load, message):
    out = tmp_path / "img"
    result = run_charts(write(tmp_path / "bench.json", bench), write(tmp_path / "load.json", load), out)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    # Both inputs are checked before anything is drawn.
    assert not (out / "cold-start.png").exists() and not (out / "load.png").exists()
