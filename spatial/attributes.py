"""Where each parcel attribute is looked for, in every accepted format: one list for the readers,
the validation messages and the surveyors' guidance page.

    GIS files (GeoJSON, Shapefile, GeoPackage, GML)   an attribute named as in `FIELD_NAMES`
    DXF drawings                                       a text or block attribute inside the parcel:
                                                       tagged as in `DXF_TAGS`, or prefixed
                                                       ``宗地代码：`` / ``ZDDM=`` (`LABEL_PREFIX`),
                                                       or recognisable by its form alone
    exchange files (界址点坐标交换格式)                  fixed fields of the parcel's header line

Names compare case-insensitively. Areas are m² unless a unit says otherwise (`AREA_UNITS`).
"""

from __future__ import annotations

import re

__all__ = ["FIELD_NAMES", "DXF_TAGS", "LAND_USE_LAYERS", "AREA_UNITS", "EXCHANGE_FIELDS", "LABEL_PREFIX",
           "LAND_USE_TEXT", "parse_area", "split_label", "tried_for_code"]

FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "parcel_code": (
        "parcel_code",
        "parcelcode",
        "zddm",
        "宗地代码",
        "宗地编码",
        "nationalcadastralreference",
        "code",
        "idu",
        "id",
    ),
    "declared_area": (
        "declared_area",
        "area",
        "areavalue",
        "mj",
        "zdmj",
        "面积",
        "宗地面积",
        "contenance",
        "supf",
    ),
    "land_use_code": (
        "land_use_code",
        "landuse",
        "land_use",
        "dlbm",
        "地类编码",
        "地类代码",
        "tdyt",
    ),
    "name": ("name", "zdmc", "宗地名称", "名称", "label", "tex"),
}
"""GIS attribute names (case-insensitive, first match wins) that carry each parcel attribute."""

DXF_TAGS: dict[str, frozenset[str]] = {
    "parcel_code": frozenset({"ZDDM", "宗地代码", "宗地编码", "宗地号", "PARCEL_CODE", "PARCELCODE", "CODE",
                              "BDCDYH"}),
    "declared_area": frozenset({"MJ", "ZDMJ", "面积", "宗地面积", "AREA", "DECLARED_AREA"}),
    "land_use_code": frozenset({"DLBM", "地类编码", "地类代码", "地类", "LAND_USE", "LANDUSE", "LAND_USE_CODE",
                                "TDYT"}),
    "name": frozenset({"NAME", "名称", "ZDMC", "宗地名称"}),
}
"""DXF block attribute tags, and label prefixes (``ZDDM=…``, ``宗地代码：…``), per attribute (upper case)."""

LAND_USE_LAYERS = frozenset({"DLBM", "地类", "地类编码", "地类代码", "LANDUSE", "LAND_USE", "TDYT", "DL"})
"""DXF layers whose 4-digit texts are GB/T 21010 land-use codes (upper case)."""

AREA_UNITS: dict[str, float] = {
    "m²": 1.0, "m2": 1.0, "㎡": 1.0, "平方米": 1.0, "平米": 1.0,
    "亩": 10_000 / 15,  # 1 mu = 666.67 m²
    "公顷": 10_000.0, "ha": 10_000.0, "hm²": 10_000.0, "hm2": 10_000.0,
}
"""Area units surveyors write after a number, and m² per unit."""

EXCHANGE_FIELDS: tuple[str, ...] = ("界址点数", "地块面积 (公顷)", "宗地代码", "地块名称", "图形属性 (面)", "图幅号",
                                    "地类名称", "地类编码")
"""The fields of a parcel header line of an exchange file, in order (then ``@``)."""

LABEL_PREFIX = re.compile(r"^\s*(?P<tag>[^\s:：=＝]{1,12})\s*[:：=＝]\s*(?P<value>\S.*?)\s*$")
"""A label written ``宗地代码：330102…`` or ``ZDDM=330102…``: the tag, then the value."""

LAND_USE_TEXT = re.compile(r"^(?P<code>(?:0[1-9]|1[0-2])\d{2})(?:\s*[\u4e00-\u9fff]{2,12})?$")
"""A GB/T 21010 land-use code written alone (``0701``) or with its name (``0701城镇住宅用地``)."""

_AREA = re.compile(r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))\s*(?P<unit>m²|m2|㎡|平方米|平米|亩|公顷|ha|hm²|hm2)?$",
                   re.IGNORECASE)


def parse_area(text: str) -> tuple[float, bool] | None:
    """An area written with or without a unit, as (m², whether a unit was written), or None.

    >>> parse_area("1.5亩")
    (1000.0, True)
    """
    found = _AREA.fullmatch(text.strip().replace(",", ""))
    if found is None:
        return None
    unit = found.group("unit")
    factor = (AREA_UNITS.get(unit) or AREA_UNITS[unit.lower()]) if unit else 1.0
    value = float(found.group("number")) * factor
    return value, unit is not None


def split_label(text: str) -> tuple[str, str] | None:
    """(TAG, value) of a label written with a known prefix (``ZDDM=…``, ``宗地代码：…``), else None."""
    found = LABEL_PREFIX.match(text)
    if found is None:
        return None
    tag = found.group("tag").upper()
    if any(tag in tags for tags in DXF_TAGS.values()):
        return tag, found.group("value")
    return None


def tried_for_code() -> str:
    """Where a parcel code was looked for, for the message of a parcel without one."""
    return (f"looked for a GIS attribute named {', '.join(FIELD_NAMES['parcel_code'])}; in a DXF drawing, a "
            f"19-character code as a text inside the parcel, alone or prefixed "
            f"{' / '.join(sorted(t + '=' for t in DXF_TAGS['parcel_code']))} (also with ： or :), or a block "
            f"attribute tagged {', '.join(sorted(DXF_TAGS['parcel_code']))}; in an exchange file, the 3rd field "
            "(宗地代码) of the parcel's header line")
