"""Server messages in the reader's language: errors, validation issues, rules and pydantic's texts.

The code raising an error writes its particulars in English (`BadInput(f"no account named
{username}")`): that text stays the `message` API clients have always had, and the log's. This
module renders it in the page's language from a catalogue of templates,
`locales/messages.<language>.json`, keyed by the English template as written in the source::

    "overlaps current parcel {code} by {area} m²": "与现势宗地 {code} 重叠 {area} m²"

The English text is matched against the templates (the one with the most fixed text wins), the
values it carried are put into the translation (decimal numbers formatted for the language by
Babel, a value that is itself a catalogued sentence or an enumerated value translated in turn).
A message no template matches falls back to the explanation of its code (`error.<code>`,
`issue.<code>`), never to English on a Chinese page. Rule violations render from their rule
name (`rule.<name>`) and the blocking record; pydantic's errors from their `type` and `ctx`
(`pydantic.<type>`). `tests/web/test_messages.py` finds every message in the source and fails
on any without a template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal

from portal.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, catalog

__all__ = ["translate", "localize_value", "localize_roles", "localize_error", "localize_issue", "localize_place",
           "localize_pydantic", "label", "labels_of", "district", "templates", "babel_locale"]

_LOCALES = Path(__file__).parent / "locales"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_DECIMAL = re.compile(r"^-?\d+\.\d+$")


def babel_locale(language: str) -> str:
    """The Babel locale of a page language: `zh-CN` -> `zh_Hans_CN`, `en` -> `en_GB` (day month year)."""
    return {"zh-CN": "zh_Hans_CN", "en": "en_GB"}.get(language, "zh_Hans_CN")


@cache
def templates(language: str) -> dict[str, str]:
    """The message catalogue of `language`: English template -> template in that language."""
    path = _LOCALES / f"messages.{language}.json"
    if not path.exists():
        return {}
    texts: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return texts


@cache
def _patterns() -> list[tuple[str, tuple[re.Pattern[str], ...], str, list[str]]]:
    """Every English template as regexes (values matched shortest-first, then longest-first),
    most specific (most fixed text) first, each with its longest fixed piece (a cheap test
    before the regexes)."""
    compiled = []
    for template in templates("zh-CN"):
        names = _PLACEHOLDER.findall(template)
        pieces = _PLACEHOLDER.split(template)
        variants = []
        for quantifier in ("+?", "+"):
            regex = "".join(re.escape(piece) + (f"(?P<v{i}>.{quantifier})" if i < len(names) else "")
                            for i, piece in enumerate(pieces))
            variants.append(re.compile(f"^{regex}$", re.DOTALL))
        fixed = sum(len(piece) for piece in pieces)
        compiled.append((fixed, max(pieces, key=len), tuple(variants), template, names))
    compiled.sort(key=lambda item: -item[0])
    return [(piece, variants, template, names) for _, piece, variants, template, names in compiled]


@cache
def _labels(language: str) -> dict[str, str]:
    """Every enumerated value's name, by the value alone (`by_portions` -> 按份共有)."""
    names: dict[str, str] = {}
    for key, text in catalog(language).items():
        parts = key.split(".", 2)
        if parts[0] == "label" and len(parts) == 3:
            names.setdefault(parts[2], text)
    return names


_ENGLISH = re.compile(r"[A-Za-z]{3,}")
_FIXED = re.compile(r"[\s\W]+")


def _number(text: str, language: str) -> str:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    places = len(text.split(".", 1)[1])
    try:
        return format_decimal(value, format="#,##0." + "0" * places, locale=babel_locale(language))
    except (ArithmeticError, ValueError):  # beyond the decimal context (an area of 1e60 m²): as written
        return text


def _value(text: str, language: str, depth: int) -> str:
    if _DECIMAL.match(text):
        return _number(text, language)
    if text.isdigit():  # an id, a count, a year: as written
        return text
    inner = translate(text, language, _depth=depth + 1) if depth < 3 else None
    if inner is not None:
        return inner
    return _labels(language).get(text.strip("'\""), text)


@lru_cache(maxsize=4096)
def translate(message: str, language: str, *, _depth: int = 0) -> str | None:
    """`message` (English, as raised) in `language`, or None when no template matches it.

    >>> translate("the two passwords differ", "zh-CN")
    '两次输入的密码不一致'
    """
    if language == "en":
        return message
    chosen = templates(language)
    for piece, variants, template, names in _patterns():
        if piece not in message or template not in chosen:
            continue
        best: dict[str, str] | None = None
        for pattern in variants:  # the split leaving the fewest English words wins
            found = pattern.match(message)
            if found is None:
                continue
            values = {name: _value(found.group(f"v{i}"), language, _depth) for i, name in enumerate(names)}
            if best is None or _english(values) < _english(best):
                best = values
        if best is not None and (_english(best) == 0 or len(_FIXED.sub("", _PLACEHOLDER.sub("", template))) > 2):
            return _fill(chosen[template], best)
        # else: a template of placeholders alone ("{text}: {problem}") that would pass English through
    return None


def _fill(template: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(0), m.group(0)), template)


def _english(values: Mapping[str, str]) -> int:
    return sum(len(_ENGLISH.findall(v)) for v in values.values())


def localize_value(text: str | None, language: str) -> str:
    """A short value a page shows as stored (an audit subject `user:3`, a table name, an
    enumerated value): its catalogued sentence or label in `language`, else itself."""
    if not text:
        return ""
    if language == "en":
        return _labels(language).get(text, text) if "_" in text else text
    return translate(text, language) or _labels(language).get(text, text)


def localize_roles(roles: str | Sequence[str] | None, language: str) -> str:
    """Roles as stored (`registrar,auditor`, or a list) named for people: 登记人员、审计人员."""
    if not roles:
        return ""
    names = roles.split(",") if isinstance(roles, str) else list(roles)
    shown = [label("role", name, language) if name in _ROLE_NAMES else localize_value(name, language)
             for name in names]
    return ("、" if language == "zh-CN" else ", ").join(shown)


_ROLE_NAMES = ("verified_user", "surveyor", "registrar", "court_clerk", "auditor", "administrator", "user",
               "anonymous", "public")


def _explain(prefix: str, code: str, language: str) -> str:
    texts = catalog(language)
    return texts.get(f"{prefix}.{code}") or texts.get(f"{prefix}.generic") or texts.get("error.title", code)


def localize_error(code: str, message: str, fields: Mapping[str, Any] | None, language: str) -> str:
    """The message of a refusal for a reader of `language` (`message` itself in English).

    A rule violation renders from the catalogue with its particulars, else from `rule.<name>`
    with the blocking record; anything else from the catalogue (a message prefixed with the
    `file` field, `scan.pdf: the PDF is encrypted...`, keeps the name and translates the rest); an
    unmatched message as the explanation of its code."""
    if language not in LANGUAGES or language == "en":
        return message
    fields = fields or {}
    rule = fields.get("rule")
    if code == "rule_violation" and (particular := translate(message, language)) is not None:
        return particular  # the database's message with its particulars (unit, court, document)
    if code == "rule_violation" and isinstance(rule, str) and f"rule.{rule}" in catalog(language):
        blocking = fields.get("blocking") or {}
        restriction = blocking.get("restriction_id") if isinstance(blocking, Mapping) else None
        text = catalog(language)[f"rule.{rule}"]
        if restriction is not None:
            text += catalog(language).get("rule.blocking", " ({restriction})").format(restriction=restriction)
        return text
    found = translate(message, language)
    if found is None and isinstance(file := fields.get("file"), str) and message.startswith(f"{file}: "):
        # "<file name>: <sentence>" (the archive's refusals): a file name is data, the sentence is translated
        rest = translate(message[len(file) + 2:], language)
        found = f"{file}：{rest}" if rest is not None else None
    return found or _explain("error", code, language)


def localize_issue(code: str, message: str, language: str) -> str:
    """A validation issue's message in `language`; unmatched, the explanation of its code."""
    if language == "en":
        return message
    return translate(message, language) or _explain("issue", code, language)


def localize_place(place: str | None, language: str) -> str:
    """Where in a file (`line 12, field Y`, `layer 'parcel', feature 3`) in `language`."""
    if not place or language == "en":
        return place or ""
    return "，".join(translate(part, language) or part for part in place.split(", "))


def localize_pydantic(error: Mapping[str, Any], language: str) -> str:
    """One of pydantic's errors (`type`, `loc`, `msg`, `ctx`) as a sentence in `language`,
    naming the field: `body.password: 至少需要 10 个字符`."""
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    if language == "en":
        text = str(error.get("msg", ""))
    else:
        texts = catalog(language)
        template = texts.get(f"pydantic.{error.get('type')}") or texts.get("pydantic.generic", "{type}")
        ctx = {k: _context_value(v) for k, v in (error.get("ctx") or {}).items()}
        try:
            text = template.format(type=error.get("type"), **ctx)
        except (KeyError, IndexError, ValueError):
            text = texts.get("pydantic.generic", "").format(type=error.get("type"))
    return f"{where}: {text}" if where else text


def _context_value(value: object) -> str:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ", ".join(map(str, value))
    return str(value)


def label(kind: str, value: object, language: str = DEFAULT_LANGUAGE) -> str:
    """The name of an enumerated value for people: `label("co_ownership", "by_portions")` is
    按份共有 in Chinese, "co-ownership by portions" in English; an unknown value shows as itself."""
    if value is None or value == "":
        return ""
    key = f"label.{kind}.{value}"
    return catalog(language).get(key) or catalog(DEFAULT_LANGUAGE).get(key) or str(value)


def district(code: str, name: str, language: str) -> str:
    """An administrative area's name in `language` (`label.district.<code>`), else as recorded."""
    key = f"label.district.{code}"
    return catalog(language).get(key) or name


def labels_of(kind: str, language: str) -> dict[str, str]:
    """Every value of one enumeration and its name in `language`, for a page's script."""
    prefix = f"label.{kind}."
    return {key[len(prefix):]: text for key, text in catalog(language).items() if key.startswith(prefix)}
