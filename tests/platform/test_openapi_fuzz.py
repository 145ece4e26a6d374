"""schemathesis against the app's own OpenAPI document, over real HTTP: whatever the input,
no 5xx, and every response matches the schema. Runs the schemathesis command line (its pytest
plugin does not load under our pytest) with the demo registrar's bearer token, so operations
are reached past authentication; anonymous 401s are covered by the other tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest


@pytest.mark.slow
def test_no_server_errors_and_responses_match_the_schema(live_site, tmp_path) -> None:
    st = Path(sys.executable).parent / "st"
    if not st.exists() and not shutil.which("st"):
        pytest.skip("schemathesis is not installed")
    base, _ = live_site
    token = httpx.post(f"{base}/api/tokens", json={"username": "registrar", "password": "demo-registrar-2025",
                                                   "label": "schemathesis"}).json()["token"]
    done = subprocess.run(
        [str(st), "run", f"{base}/openapi.json", "--header", f"Authorization: Bearer {token}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance,response_headers_conformance",
         "--max-examples", "30", "--workers", "1",
         "--exclude-path", "/api/tokens/current", "--no-color", "--seed", "7"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    report = Path(__file__).resolve().parents[2] / "artifacts" / "schemathesis.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, f"see {report}:\n" + done.stdout[-3000:]
