"""If-None-Match lists (review finding L3 of issue 20): one parser, `layers.http.not_modified`
(RFC 9110 §13.1.2, entity tags per §8.8.3), for every route that answers 304: the digitisation
tiles (tests/surveys/test_digitising_tiles.py) and both static mounts, the portal's and /ogc's.
A malformed list never matches; a well-formed one matches weakly."""

from __future__ import annotations

import httpx
import pytest
from ogc_server import Server
from starlette.datastructures import Headers

from layers.http import IF_NONE_MATCH_MAX_CHARS, entity_tags, if_none_match_of, not_modified
from portal.platform.middleware import HEADER_MAX_BYTES


@pytest.mark.parametrize(("header", "tags"), [
    ('"a"', [(False, "a")]), ('W/"a", "b"', [(True, "a"), (False, "b")]), ('"a,b"', [(False, "a,b")]),
    ('"a", , "b"', [(False, "a"), (False, "b")]), ("", []), ('"a""a"', None), ('"a" "b"', None),
    ("a", None), ('w/"a"', None), ('"a', None), ("*", None), ('"a" ,"b",', [(False, "a"), (False, "b")]),
    ('"\x7f"', None), ('"a"\x00', None)])
def test_entity_tag_lists_are_parsed_whole(header: str, tags: list[tuple[bool, str]] | None) -> None:
    assert entity_tags(header) == tags


@pytest.mark.parametrize(("header", "expected"), [
    (None, False), ("", False), (" * ", True), ('"e"', True), ('W/"e"', True), ('"x", W/"e"', True),
    ('"e""e"', False), ('"e" "e"', False), ('"e", junk', False), ('"E"', False)])
def test_if_none_match_compares_weakly_and_a_malformed_list_never_matches(header: str | None,
                                                                          expected: bool) -> None:
    assert not_modified(header, '"e"') is expected
    assert not_modified(header, 'W/"e"') is expected


@pytest.mark.parametrize("path", ["/static/css/map.css", "/ogc/static/css/default.css"])
def test_static_files_answer_304_only_to_a_well_formed_list(ogc_server: Server, path: str) -> None:
    first = httpx.get(ogc_server.url + path, timeout=30)
    assert first.status_code == 200, path
    etag = first.headers["etag"]
    for header in (etag, f'"other", W/{etag}', "*"):
        assert httpx.get(ogc_server.url + path, headers={"If-None-Match": header},
                         timeout=30).status_code == 304, header
    for header in (etag + etag, f"{etag} {etag}", f"{etag}, junk", '"other"'):
        again = httpx.get(ogc_server.url + path, headers={"If-None-Match": header}, timeout=30)
        assert again.status_code == 200 and again.content == first.content, header


def test_an_if_none_match_longer_than_the_cap_names_nothing_before_it_is_parsed() -> None:
    # 8 MB of commas held the event loop for seconds while the list was walked element by element
    assert not_modified("," * 8_000_000 + '"e"', '"e"') is False
    assert not_modified(" " * (IF_NONE_MATCH_MAX_CHARS - 3) + '"e"', '"e"') is True
    assert not_modified(" " * (IF_NONE_MATCH_MAX_CHARS - 2) + '"e"', '"e"') is False


def test_every_line_of_if_none_match_is_one_list(ogc_server: Server) -> None:
    path = "/static/css/map.css"
    first = httpx.get(ogc_server.url + path, timeout=30)
    etag = first.headers["etag"]
    for lines, expected in (([etag, "junk"], 200), (['"other"', etag], 304), ([etag, '"other"'], 304)):
        again = httpx.get(ogc_server.url + path, headers=[("If-None-Match", line) for line in lines], timeout=30)
        assert again.status_code == expected, lines
    headers = Headers(raw=[(b"if-none-match", b'"e"'), (b"if-none-match", b"junk")])
    assert if_none_match_of(headers) == '"e", junk' and not not_modified(if_none_match_of(headers), '"e"')
    assert if_none_match_of(Headers()) is None


def test_headers_too_large_are_refused_before_anything_parses_them(ogc_server: Server) -> None:
    # 8 MB of `;` in a Cookie or `,` in Accept-Language were walked element by element on the event loop
    for path in ("/static/js/map.js", "/health", "/ogc/collections"):
        for name, value in (("Cookie", ";" * (HEADER_MAX_BYTES + 1)), ("Accept-Language", "," * 1_000_000),
                            ("If-None-Match", "," * 100_000 + '"e"')):
            refused = httpx.get(ogc_server.url + path, headers={name: value}, timeout=30)
            assert refused.status_code == 431, (path, name)
            if path.startswith("/ogc/"):  # OGC's exception under /ogc (test_ogc_review4)
                assert refused.json()["code"] == "InvalidRequest"
            else:
                assert refused.json()["detail"]["code"] == "headers_too_large"
    etag = httpx.get(ogc_server.url + "/static/js/map.js", timeout=30).headers["etag"]
    long = httpx.get(ogc_server.url + "/static/js/map.js", timeout=30,
                     headers={"If-None-Match": "," * IF_NONE_MATCH_MAX_CHARS + etag})
    assert long.status_code == 200, "an If-None-Match under the header cap but over its own names nothing"


def test_head_is_answered_wherever_get_is(ogc_server: Server) -> None:
    # FastAPI's GET routes answered HEAD with 405 (RFC 9110 §9.3.2 asks for the GET's header fields)
    for path in ("/health", "/", "/static/js/map.js", "/ogc/collections", "/no-such-page"):
        get = httpx.get(ogc_server.url + path, timeout=30)
        head = httpx.head(ogc_server.url + path, timeout=30)
        assert head.status_code == get.status_code, path
        assert head.content == b"" and head.headers.get("content-type") == get.headers.get("content-type"), path
    check = httpx.head(ogc_server.url + "/api/check", params={"parcel": "x"}, timeout=30)
    assert check.status_code == 405 and check.headers["allow"] == "GET", "a HEAD never makes a check"
    assert httpx.request("DELETE", ogc_server.url + "/health", timeout=30).status_code == 405
