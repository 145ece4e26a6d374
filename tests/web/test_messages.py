"""Every code and message has words in both languages: the catalogue test of issue 17 §1.

Enumerated, not sampled: the error classes (every `CadastreError` subclass after importing every
module of the portal, the spatial and HTTP codes), the issue codes (`IssueCode`), the rule names
(raised by the database in migrations/ and by `RuleViolation` in the code), the pydantic error
types our requests can produce (read from the app's OpenAPI schema), and every message sentence
written in the source (`message_sources`). Each is rendered in Chinese and in English; the
Chinese rendering must hold no English word but the names of formats and standards.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from message_sources import ROOT, templates

import portal
from portal.platform.errors import CadastreError
from portal.web.errors import HTTP_CODES, SPATIAL_CODES
from portal.web.i18n import LANGUAGES, catalog
from portal.web.messages import (
    label,
    localize_error,
    localize_issue,
    localize_place,
    localize_pydantic,
    localize_roles,
    translate,
)
from spatial.report import IssueCode

# Words a Chinese page may show as they are: names of formats, standards, systems and fields
# that are written in Latin letters in Chinese too (URIs, such as GML's CRS names, are written as they are).
ALLOWED = {
    "EPSG", "GB", "CGCS", "DXF", "GML", "GeoJSON", "GeoPackage", "Shapefile", "shp", "shx", "dbf", "prj",
    "zip", "txt", "XML", "DOCTYPE", "DTD", "UTF", "GBK", "LWPOLYLINE", "POLYLINE", "HATCH", "INTERLIS", "XTF",
    "ITF", "EDIGEO", "THF", "SQL", "JSON", "CSRF", "Token", "Cookie", "POST", "GET", "api", "check", "tokens",
    "NaN", "PDF", "Noto", "Sans", "CJK", "UUID", "grant_id", "bbox", "Gauss", "Krüger", "UTC", "csv",
    "SHA", "TIFF", "JPEG", "PNG", "Windows", "Linux", "macOS", "Mach", "ELF", "Java", "srsName",
}
_WORD = re.compile(r"[A-Za-zü]{3,}(?:_[A-Za-z]+)*")
_URI = re.compile(r"\b(?:urn|https?):\S+")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def english_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(_URI.sub(" ", text)) if w not in ALLOWED and not w.startswith("X-")]


def _sample(template: str) -> str:
    """The message as raised, each value a number (numbers carry no language)."""
    return _PLACEHOLDER.sub("7", template)


def _all_subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


@pytest.fixture(scope="module")
def error_codes() -> set[str]:
    for module in pkgutil.walk_packages(portal.__path__, "portal."):
        if ".cli" not in module.name:
            importlib.import_module(module.name)
    codes = {cls.code for cls in _all_subclasses(CadastreError)} | {CadastreError.code}
    return codes | set(SPATIAL_CODES.values()) | set(HTTP_CODES.values()) | {"database_unavailable", "invalid_input"}


def test_every_error_code_is_explained_in_both_languages(error_codes: set[str]) -> None:
    assert len(error_codes) > 30
    for language in LANGUAGES:
        missing = sorted(code for code in error_codes if f"error.{code}" not in catalog(language))
        assert not missing, f"{language}: no error.<code> for {missing}"
    untranslated = {c: catalog("zh-CN")[f"error.{c}"] for c in error_codes
                    if english_words(catalog("zh-CN")[f"error.{c}"])}
    assert not untranslated


def test_every_issue_code_has_words_in_both_languages() -> None:
    for code in IssueCode:
        for language in LANGUAGES:
            assert f"issue.{code.value}" in catalog(language), (language, code)
        assert not english_words(localize_issue(code.value, "an English sentence no template knows", "zh-CN"))


def _rule_names() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "migrations" / "versions").glob("*.py"):
        names |= set(re.findall(r"rule[= ]([a-z]+_[a-z_]+)", path.read_text(encoding="utf-8")))
    for path in (ROOT / "portal").rglob("*.py"):
        names |= set(re.findall(r'RuleViolation\(\s*"([a-z_]+)"', path.read_text(encoding="utf-8")))
        names |= set(re.findall(r'fields\.get\("rule", "([a-z_]+)"\)', path.read_text(encoding="utf-8")))
    return names


def test_every_rule_of_the_register_has_words_in_both_languages() -> None:
    rules = _rule_names()
    assert {"no_dealing_under_seizure", "ended_restriction_stays_ended", "own_roles", "second_administrator",
            "shares_add_up_to_one", "register_rule"} <= rules
    for rule in sorted(rules):
        for language in LANGUAGES:
            assert f"rule.{rule}" in catalog(language), (language, rule)
        zh = localize_error("rule_violation", f"rule {rule}: unit 2 is under an active seizure (restriction 2898)",
                            {"rule": rule, "blocking": {"restriction_id": 2898}}, "zh-CN")
        assert "2898" in zh and not english_words(zh), zh


def test_every_rule_message_the_database_raises_has_a_chinese_template() -> None:
    """`RAISE EXCEPTION 'rule <name>: ... % ...'` in migrations/: the message a rule violation
    carries, with its particulars (unit, court, document), rendered in Chinese."""
    raised = []
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        for found in re.finditer(r"RAISE EXCEPTION\s+((?:'[^']*'\s*)+)", path.read_text(encoding="utf-8")):
            text = "".join(re.findall(r"'([^']*)'", found.group(1)))
            if text.startswith("rule "):
                raised.append(text)
    assert len(raised) >= 4
    catalogue = json.loads((ROOT / "portal/web/locales/messages.zh-CN.json").read_text(encoding="utf-8"))
    shapes = {_PLACEHOLDER.sub("%", key) for key in catalogue}
    for text in raised:
        assert text in shapes, f"no Chinese template for the database's {text!r}"
        sample = text.replace("%", "7")
        rule = text.split(":", 1)[0].removeprefix("rule ")
        zh = localize_error("rule_violation", sample, {"rule": rule}, "zh-CN")
        assert not english_words(zh), zh


def _pydantic_types(schema: dict[str, Any]) -> set[str]:
    """The pydantic error types a request to these operations can raise, from their schema."""
    found = {"missing", "json_invalid", "model_attributes_type", "extra_forbidden"}
    by_type = {"string": {"string_type"}, "integer": {"int_parsing", "int_type", "int_from_float"},
               "number": {"float_parsing", "float_type", "decimal_parsing"}, "boolean": {"bool_parsing", "bool_type"},
               "array": {"list_type"}, "object": {"model_type", "dict_type"}}
    by_key = {"minLength": "string_too_short", "maxLength": "string_too_long", "pattern": "string_pattern_mismatch",
              "minItems": "too_short", "maxItems": "too_long", "enum": "literal_error", "const": "literal_error",
              "minimum": "greater_than_equal", "maximum": "less_than_equal", "exclusiveMinimum": "greater_than",
              "exclusiveMaximum": "less_than"}
    by_format = {"date": {"date_parsing", "date_from_datetime_parsing"}, "date-time": {"datetime_parsing"}}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if isinstance(kind, str):
                found.update(by_type.get(kind, ()))
            found.update(error for key, error in by_key.items() if key in node)
            found.update(by_format.get(str(node.get("format")), ()))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


def test_every_pydantic_error_type_of_our_requests_is_translated(database_url: str) -> None:
    from account_helpers import settings_for

    from portal.app import create_app

    types = _pydantic_types(create_app(settings_for(database_url)).openapi())
    assert {"string_too_short", "too_short", "missing", "int_parsing"} <= types
    for kind in sorted(types):
        for language in LANGUAGES:
            assert f"pydantic.{kind}" in catalog(language), (language, kind)
        error = {"type": kind, "loc": ("body", "holders", 0, "share"), "msg": "English",
                 "ctx": {"min_length": 28, "max_length": 40, "pattern": "^[0-9]+$", "expected": "'a' or 'b'",
                         "gt": 0, "ge": 1, "lt": 9, "le": 9, "max_digits": 16, "decimal_places": 2}}
        zh = localize_pydantic(error, "zh-CN")
        assert zh.startswith("holders.0.share: ") and not english_words(zh.split(": ", 1)[1]), zh
    assert localize_pydantic({"type": "string_too_short", "loc": ("body", "unit_number"), "msg": "String should have "
                              "at least 28 characters", "ctx": {"min_length": 28}}, "zh-CN") == \
        "unit_number: 至少需要 28 个字符"
    assert not english_words(localize_pydantic({"type": "never_seen", "loc": ("query", "q")}, "zh-CN").split(": ")[1])


def test_every_message_written_in_the_source_has_a_chinese_template() -> None:
    found = {text: where for where, text in templates() if text.strip()}
    assert len(found) > 250, "the source scan finds the messages"
    catalogue = json.loads((ROOT / "portal/web/locales/messages.zh-CN.json").read_text(encoding="utf-8"))
    missing = {text: where for text, where in found.items() if text not in catalogue}
    assert not missing, "no Chinese template for:\n" + "\n".join(f"{w}: {t}" for t, w in sorted(missing.items()))
    for text, where in sorted(found.items()):
        sample = _sample(text)
        zh = translate(sample, "zh-CN")
        assert zh is not None, f"{where}: {sample!r} matches no template"
        assert not english_words(zh), f"{where}: untranslated words {english_words(zh)} in {zh!r}"
        assert translate(sample, "en") == sample


def test_the_catalogue_holds_no_stale_or_broken_template() -> None:
    catalogue = json.loads((ROOT / "portal/web/locales/messages.zh-CN.json").read_text(encoding="utf-8"))
    for english, chinese in catalogue.items():
        assert set(_PLACEHOLDER.findall(chinese)) <= set(_PLACEHOLDER.findall(english)), english
        assert not english_words(_PLACEHOLDER.sub("7", chinese)), chinese


@pytest.mark.parametrize(("message", "expected"), [
    ("overlaps current parcel 330102001001GB00012 by 469.93 m²", "与现势宗地 330102001001GB00012 重叠 469.93 m²"),
    ("overlaps current parcel 330102001001GB00012 by 1469.93 m²", "与现势宗地 330102001001GB00012 重叠 1,469.93 m²"),
    ("has no land-use code", "没有地类代码"),
    ("the two passwords differ", "两次输入的密码不一致"),
    ("no certificate has this verification code", "没有与此验证码对应的证明"),
    ("your roles do not allow audit.read", "您的角色无权进行“查阅审计日志”"),
    ("application 2026-000042 is registered; only an application under review can be registered",
     "申请 2026-000042 处于“已登簿”状态；只有审核中的申请可以登簿"),
    ("parcel code '3301': a parcel code has 19 characters, this one has 4",
     "宗地代码 '3301'：宗地代码为 19 位，此代码为 4 位"),
    ("the boundary crosses itself (a bow-tie or a ring crossing another) (Self-intersection)",
     "边界自相交（呈蝴蝶结形，或一个环与另一个环相交）（自相交）"),
])
def test_messages_are_rendered_with_their_values(message: str, expected: str) -> None:
    assert translate(message, "zh-CN") == expected
    assert translate(message, "en") == message


def test_places_roles_and_labels() -> None:
    assert localize_place("layer 'parcel', feature 3", "zh-CN") == "图层 'parcel'，要素 3"
    assert localize_place("line 12, field Y", "zh-CN") == "第 12 行，字段 Y"
    assert localize_place("line 12", "en") == "line 12"
    assert localize_roles("court_clerk,registrar", "zh-CN") == "法院书记员、登记人员"
    assert localize_roles("court_clerk", "en") == "court clerk"
    assert label("co_ownership", "by_portions", "zh-CN") == "按份共有"
    assert label("co_ownership", "by_portions", "en") == "co-ownership by portions"
    assert label("land_use", "0701", "zh-CN") == "城镇住宅用地"
    assert label("restriction_kind", "never_heard_of", "zh-CN") == "never_heard_of"


def _enumerations() -> dict[str, set[str]]:
    """The values the database allows for each enumerated column (CHECK ... IN (...))."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "migrations" / "versions").glob("*.py"))
    columns = {"co_ownership": "co_ownership", "use": "unit_use", "method": "verification_method",
               "tier": "check_tier", "query_kind": "query_kind", "access": "audit_access", "outcome": "audit_outcome",
               "purpose": "purpose", "id_document_type": "id_document_type"}
    found: dict[str, set[str]] = {}
    for column, kind in columns.items():
        for match in re.finditer(rf"\b{column} text[^,]*?CHECK \({column} IN \(([^)]*)\)", text, re.S):
            found.setdefault(kind, set()).update(re.findall(r"'([a-z_]+)'", match.group(1)))
    return found


def test_every_enumerated_value_has_a_label_in_both_languages() -> None:
    from portal.platform.permissions import Action, Role
    from portal.registry.applications import KINDS

    values = _enumerations()
    assert {"co_ownership", "unit_use", "audit_outcome", "purpose"} <= set(values)
    values["role"] = {r.value for r in Role}
    values["permission"] = {a.value for a in Action}
    values["application_kind"] = set(KINDS)
    values["restriction_kind"] = {"mortgage", "seizure", "objection", "advance_notice"}
    values["restriction_status"] = {"active", "discharged", "queued", "released", "expired", "cancelled"}
    values["submission_status"] = {"draft", "submitted", "approved", "rejected", "withdrawn"}
    values["application_status"] = {"received", "under_review", "registered", "rejected"}
    for kind, names in values.items():
        for name in names:
            for language in LANGUAGES:
                assert f"label.{kind}.{name}" in catalog(language), (language, kind, name)
            assert not english_words(label(kind, name, "zh-CN")), (kind, name)


def test_both_label_catalogues_have_the_same_keys() -> None:
    zh = json.loads((ROOT / "portal/web/locales/labels.zh-CN.json").read_text(encoding="utf-8"))
    en = json.loads((ROOT / "portal/web/locales/labels.en.json").read_text(encoding="utf-8"))
    assert set(zh) == set(en)
    assert Path(ROOT / "portal/web/locales/messages.zh-CN.json").exists()


def test_a_refusal_naming_its_file_keeps_the_name_and_translates_the_sentence() -> None:
    """The archive's refusals read `<file>: <sentence>`: the file name is data, never translated."""
    message = "扫描 scan.pdf: the PDF is encrypted: give the office an unprotected copy"
    fields = {"reason": "pdf_encrypted", "file": "扫描 scan.pdf"}
    assert localize_error("file_refused", message, fields, "zh-CN") == \
        "扫描 scan.pdf：该 PDF 已加密：请向登记机构提供未加密的副本"
    assert localize_error("file_refused", message, fields, "en") == message
    program = "a.exe: the file is a Windows program (MZ/PE), not a scan: only PDF, TIFF, JPEG and PNG are kept"
    assert localize_error("file_refused", program, {"file": "a.exe"}, "zh-CN") == \
        "a.exe：该文件是一个 Windows 程序（MZ/PE），不是扫描件：档案只接收 PDF、TIFF、JPEG 和 PNG"
