"""Search ranks a house number typed whole before the longer numbers that contain it (issue 17 §3):
"解放路 33号" opens 解放路33号, never 解放路133号 or 解放路233号."""

from __future__ import annotations

import httpx
import pytest


def test_the_exact_house_number_comes_first(http: httpx.Client) -> None:
    for typed in ("解放路 33号", "解放路33号", "33号 解放路"):
        hits = http.get("/api/search", params={"q": typed}).json()["results"]
        assert hits, typed
        assert "解放路33号" in hits[0]["location"], (typed, hits[0]["location"])
        firsts = [h["location"] for h in hits if "解放路33号" in h["location"]]
        assert [h["location"] for h in hits[:len(firsts)]] == firsts, "every exact match before the others"
    longer = http.get("/api/search", params={"q": "解放路 33号"}).json()["results"]
    assert any("解放路133号" in h["location"] or "解放路233号" in h["location"] for h in longer), \
        "the others still follow"


@pytest.mark.parametrize("typed", ["解放路 (33", "33号 [", "路 \\1", "解放路 33号.*", "a|b 33"])
def test_characters_of_regular_expressions_are_only_text(http: httpx.Client, typed: str) -> None:
    response = http.get("/api/search", params={"q": typed})
    assert response.status_code == 200, response.text
