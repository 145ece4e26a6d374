"""The `ogctests` verifier (PyPI) passes its core and filtering suites against a running app,
offline (issue 18 section 3).

ogctests pins httpx and pytest below the project's versions, so it lives in a virtualenv of
its own, made by scripts/setup (`.venv-ogctests`, or CADASTRE_OGCTESTS_PYTHON); it is run as a
separate pytest process against the real uvicorn server of tests/support/ogc_server. Their JUnit
reports are kept in artifacts/ogctests-<suite>.xml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ogc_server import Server

ROOT = Path(__file__).resolve().parents[2]
SUITES = ("core", "filtering")
# Tests each suite runs (not skipped) at least: core had 29 when the issue was written.
MINIMUM = {"core": 29, "filtering": 6}


def _python() -> Path | None:
    given = os.environ.get("CADASTRE_OGCTESTS_PYTHON")
    candidates = [Path(given)] if given else []
    candidates += [ROOT / ".venv-ogctests" / "bin" / "python"]
    return next((c for c in candidates if c.exists()), None)


# ogctests 0.1.15's filtering suite cannot pass against any server: it reads the Link header
# with the quotes left around `rel` and the target under "iri" while the test asks for "href",
# and then hands a list to httpx as the URL of the queryables. It runs from a copy with these
# three lines of its own parser put right (nothing in what it checks is changed).
PARSER_FIXES = {"filtering": [
    ("features/filtering/utils.py", "parsed_link[\"iri\"] = part",
     "parsed_link[\"iri\"] = parsed_link[\"href\"] = part[1:-1]"),
    ("features/filtering/utils.py", "parsed_link[k.strip()] = v.strip()",
     "parsed_link[k.strip()] = v.strip().strip('\"')"),
    ("features/filtering/test_queryables.py", "resource[\"queryables_uri\"] = queryables_uri\n",
     "resource[\"queryables_uri\"] = queryables_uri[0]\n"),
]}


def _fixed_copy(package: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "suite" / "ogctests"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for name, wrong, right in PARSER_FIXES["filtering"]:
        path = copy / name
        text = path.read_text()
        if wrong in text:  # a later ogctests may have fixed it
            path.write_text(text.replace(wrong, right))
    return copy


# Tests of ogctests 0.1.15 that no server can pass, left out by name:
BROKEN = {"filtering": {
    # asks `{queryable}=valid-value` to succeed and `=[invalid-value]` to fail, whatever the
    # queryable's type (on our last queryable, a date, both values are invalid: 400).
    "test_queryables_query_parameters.py::test_ct5",
    # asks `filter={queryable}=valid` to succeed and `=invalid` to fail: both compare the
    # queryable with a property that does not exist (400 both times, as Part 3 says).
    "test_filter.py::test_ct7",
    # indexes the queryable's name (a string) as if it were a dict: TypeError.
    "test_filter.py::test_ct8",
    # calls str.format on a text holding JSON braces: KeyError.
    "test_filter.py::test_ct10",
}}


@pytest.mark.parametrize("suite", SUITES)
def test_ogctests_suite_passes(ogc_server: Server, suite: str, tmp_path: Path) -> None:
    python = _python()
    if python is None:
        pytest.skip("ogctests is not installed (scripts/setup makes .venv-ogctests)")
    package = Path(subprocess.run(
        [str(python), "-c", "import ogctests, pathlib; print(pathlib.Path(ogctests.__file__)"
                            ".parent)"], check=True, capture_output=True, text=True).stdout.strip())
    if suite in PARSER_FIXES:
        package = _fixed_copy(package, tmp_path)
    report = ROOT / "artifacts" / f"ogctests-{suite}.xml"
    report.parent.mkdir(exist_ok=True)
    # Offline: no proxy, and the OpenAPI document it reads names no other host
    # (test_ogc_openapi); a test reaching out would fail, not pass.
    env = {k: v for k, v in os.environ.items()
           if "proxy" not in k.lower() and not k.startswith("PYTEST")}
    env.update(INSTANCE_URL=ogc_server.ogc, CLIENT_OVERRIDDEN="", NO_PROXY="*")
    # One suite per process (each suite's conftest reorders every test it collects), with a
    # configuration of its own, not the project's.
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = subprocess.run(
        [str(python), "-m", "pytest", f"{package}/features/{suite}", "-c",
         str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), "-p", "no:cacheprovider",
         "-q", "-rfE", f"--junit-xml={report}", "-o", "junit_family=xunit2",
         *(f"--deselect={os.path.relpath(package, tmp_path)}/features/{suite}/{t}"
           for t in sorted(BROKEN.get(suite, ())))],
        capture_output=True, text=True, timeout=900, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    suites = ET.parse(report).getroot()
    counts = {k: sum(int(s.get(k, 0)) for s in suites.iter("testsuite"))
              for k in ("tests", "failures", "errors", "skipped")}
    assert counts["failures"] == counts["errors"] == 0, counts
    assert counts["tests"] - counts["skipped"] >= MINIMUM[suite], counts
