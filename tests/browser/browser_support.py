"""What the browser suite's fixtures and tests share."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "browser"


@dataclass(frozen=True)
class Settings:
    base_url: str
    project_id: str
    web_url: str
    blocked_web_url: str
    allowed_origins: tuple[str, ...]


def origin_of(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def decode_qr(zbarimg: str, png: Path) -> str:
    """The text of the one QR code in a PNG, by zbar (independent of the service's encoder)."""
    result = subprocess.run([zbarimg, "-q", "--raw", str(png)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"zbarimg found no QR code in {png}: {result.stderr.strip()}"
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one QR code in {png}, zbarimg read {lines!r}"
    return lines[0]
