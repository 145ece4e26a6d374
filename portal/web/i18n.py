"""Chinese first, English second: message catalogs kept as JSON, one file per language.

A page's language comes from the `lang` cookie (set by the switch), else the browser's
Accept-Language, else Chinese. A key missing from a catalog falls back to Chinese and then
to the key itself, so a forgotten translation shows up as text rather than an error page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

from fastapi import Request

__all__ = ["LANGUAGES", "DEFAULT_LANGUAGE", "language_of", "translator", "catalog"]

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
_LOCALES = Path(__file__).parent / "locales"


@cache
def catalog(language: str) -> dict[str, str]:
    """The page texts of `language`: `<language>.json` and the labels of enumerated values,
    the rules and pydantic's texts in `labels.<language>.json`."""
    texts: dict[str, str] = json.loads((_LOCALES / f"{language}.json").read_text(encoding="utf-8"))
    labels = _LOCALES / f"labels.{language}.json"
    if labels.exists():
        texts.update(json.loads(labels.read_text(encoding="utf-8")))
    return texts


# How much of Accept-Language is read: a browser sends a few dozen characters; the rest of a longer
# value is ignored, so 8 MB of commas cannot hold the event loop while it is split and walked.
ACCEPT_LANGUAGE_MAX_CHARS = 1024


def language_of(request: Request) -> str:
    """The page language: the `lang` cookie when it names one of LANGUAGES, else the first zh or
    en tag of the first ACCEPT_LANGUAGE_MAX_CHARS characters of Accept-Language, else
    DEFAULT_LANGUAGE."""
    chosen = request.cookies.get("lang")
    if chosen in LANGUAGES:
        return chosen
    for part in request.headers.get("accept-language", "")[:ACCEPT_LANGUAGE_MAX_CHARS].split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE


def translator(language: str) -> Callable[..., str]:
    """`_("key", name=value)`: the message in `language`, formatted with the keywords."""
    primary, fallback = catalog(language), catalog(DEFAULT_LANGUAGE)

    def _(key: str, **values: object) -> str:
        text = primary.get(key) or fallback.get(key) or key
        return text.format(**values) if values else text

    return _
