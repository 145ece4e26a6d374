"""Waiting for a benchmark's server process to answer before it is measured."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def wait_until_serving(process: subprocess.Popen[bytes], url: str, *, seconds: float = 180,
                       what: str = "the server", log: Path | None = None) -> None:
    """Return once `url` answers 200. A process that exits, or is not up within `seconds`
    (then it is stopped), raises: a benchmark must never time a server that is not there."""
    see = f"; see {log}" if log else ""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited{see}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"{what} did not start{see}")
