"""The exchange layout: one table per class, its columns named by the field codes Chinese
registration databases use (TD/T 1066 不动产登记数据库标准 and the systems built on it; sources
in docs/register-exchange.md), and the code lists that turn their values into ours.

A table travels as `<CODE>.csv` in a directory (UTF-8 or GBK), as the sheet `<CODE>` of an
XLSX workbook or as the table `<CODE>` of a GeoPackage (ZDJBXX may be a feature layer there);
the first row holds the column codes, in any order. Every table's `BSM`
(标识码) is the old system's identifier of the row: importing again matches by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "Column", "Table", "TABLES", "TABLE_ORDER", "RESTRICTION_TABLES", "DOCUMENT_TYPES", "RIGHT_KINDS",
    "CO_OWNERSHIP", "UNIT_USES", "MORTGAGE_KINDS", "STATUSES", "ENDED", "SOURCE_KINDS", "DEFAULT_EPSG", "reverse",
    "PARCEL_MAX_VERTICES", "CELL_MAX_CHARS", "TEXT_MAX_CHARS", "SHEET_MAX_ROWS", "SHEET_MAX_COLUMNS", "SHEET_MAX_CELLS",
    "TABLE_MAX_ROWS", "CSV_MAX_BYTES",
    "COORDINATE_MAX", "NUMERIC_COLUMNS", "BSM_MAX_CHARS", "EARLIEST_YEAR", "LATEST_YEAR", "TIME_MARGIN_HOURS",
]


@dataclass(frozen=True)
class Column:
    code: str
    zh: str
    en: str
    required: bool = False


@dataclass(frozen=True)
class Table:
    code: str
    zh: str
    en: str
    columns: tuple[Column, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.columns)


def _c(code: str, zh: str, en: str, required: bool = False) -> Column:
    return Column(code, zh, en, required)


_BSM = _c("BSM", "标识码", "the old system's identifier of the row", True)
_UNIT = _c("BDCDYH", "不动产单元号", "28-character unit number (GB/T 37346)", True)
_YWH = _c("YWH", "业务号", "the old system's case number (kept as the source document's reference)")
_DBR = _c("DBR", "登簿人", "the registrar who entered it in the register")
_DJSJ = _c("DJSJ", "登记时间", "registration time (office time unless an offset is given)", True)
_ZXSJ = _c("ZXSJ", "注销时间", "when it ended (discharged, cancelled, expired); empty while current")
_ZT = _c("ZT", "状态", "status, from the status list of the table", True)
_SJBSM = _c("SJBSM", "收件标识码", "BSM of the source document in SJ (or imported before) that the row cites; "
                                  "without it, YWH and DBR make one")

TABLES: dict[str, Table] = {t.code: t for t in (
    Table("ZDJBXX", "宗地基本信息", "parcels with their geometry, where not surveyed into the cadastre already", (
        _BSM,
        _c("ZDDM", "宗地代码", "19-character parcel code (GB/T 37346)", True),
        _c("YT", "用途", "land use, a code of GB/T 21010-2017 (e.g. 0701)", True),
        _c("ZDMJ", "宗地面积", "declared area in m²"),
        _c("WKT", "几何", "the boundary as WKT (Polygon or MultiPolygon), x = easting or longitude, "
                        "y = northing or latitude; in a GeoPackage feature layer, the layer's geometry instead"),
        _c("EPSG", "坐标系", "EPSG code of WKT (default 4490, CGCS2000 longitude/latitude; 4513-4554 "
                          "CGCS2000 Gauss-Krüger)"),
    )),
    Table("SJ", "收件", "source documents (LA_Source) that rights and restrictions cite", (
        _BSM,
        _c("SJLX", "收件类型", "document type, from SOURCE_KINDS", True),
        _c("WJBH", "文件编号", "the document's number or reference (文号)", True),
        _c("WJRQ", "文件日期", "the date the document was issued (YYYY-MM-DD)"),
        _c("FZJG", "发证机关", "the authority or person that issued it"),
        _c("SJMC", "收件名称", "what the document is (its title or a description)"),
    )),
    Table("BDCDY", "不动产单元", "units", (
        _BSM, _UNIT,
        _c("ZDDM", "宗地代码", "19-character parcel code of a parcel already in the cadastre", True),
        _c("ZL", "坐落", "location", True),
        _c("JZMJ", "建筑面积", "floor area in m²"),
        _c("YT", "用途", "use, from the list UNIT_USES"),
        _c("DJSJ", "登记时间", "when the unit entered the register (default: the import)"),
    )),
    Table("QLR", "权利人", "parties", (
        _BSM,
        _c("QLRMC", "权利人名称", "name", True),
        _c("QLRLX", "权利人类型", "1 个人 natural person, 2 企业/机关 legal person (checked against ZJZL)"),
        _c("ZJZL", "证件种类", "identity document type, from DOCUMENT_TYPES", True),
        _c("ZJH", "证件号", "identity document number (GB 11643 / GB 32100 check digits)", True),
    )),
    Table("QL", "权利", "rights (one row per registered right, ended ones with ZXSJ)", (
        _BSM, _UNIT,
        _c("QLLX", "权利类型", "right kind, from RIGHT_KINDS", True),
        _c("GYFS", "共有方式", "co-ownership, from CO_OWNERSHIP", True),
        _c("BDCQZH", "不动产权证号", "certificate number"),
        _DJSJ, _ZXSJ,
        _c("QXDM", "区县代码", "county code: the first six characters of BDCDYH"),
        _YWH, _DBR, _SJBSM,
    )),
    Table("QLRGX", "权利人关系", "right holders and their shares", (
        _BSM,
        _c("QLBSM", "权利标识码", "BSM of the right in QL", True),
        _c("QLRBSM", "权利人标识码", "BSM of the party in QLR", True),
        _c("QLBL", "权利比例", "share, as 1/3 or 50% (by portions only)"),
    )),
    Table("DYAQ", "抵押权", "mortgages", (
        _BSM, _UNIT,
        _c("DYQRBSM", "抵押权人标识码", "BSM of the mortgagee in QLR", True),
        _c("DYFS", "抵押方式", "1 一般抵押 ordinary, 2 最高额抵押 maximum amount", True),
        _c("BDBZZQSE", "被担保主债权数额", "secured amount in yuan (the maximum, for DYFS 2)", True),
        _c("DYSW", "抵押顺位", "rank, 1 first", True),
        _c("ZWLXQSSJ", "债务履行起始时间", "term start (date)", True),
        _c("ZWLXJSSJ", "债务履行结束时间", "term end (date)"),
        _DJSJ, _ZXSJ, _ZT, _YWH, _DBR, _SJBSM,
    )),
    Table("CFDJ", "查封登记", "seizures and their queue", (
        _BSM, _UNIT,
        _c("CFJG", "查封机关", "the court", True),
        _c("CFWH", "查封文号", "the court's document number", True),
        _c("CFQSSJ", "查封起始时间", "term start (date)", True),
        _c("CFJSSJ", "查封结束时间", "term end (date)"),
        _c("LHSX", "轮候顺序", "place in the queue: 1 the seizure in effect, 2... queued (轮候查封)", True),
        _DJSJ,
        _c("JFSJ", "解封时间", "when it was released or expired; empty while in effect or queued"),
        _ZT, _YWH, _DBR, _SJBSM,
    )),
    Table("YYDJ", "异议登记", "objections", (
        _BSM, _UNIT,
        _c("SQRBSM", "申请人标识码", "BSM of the applicant in QLR"),
        _c("YYSX", "异议事项", "what is objected to"),
        _DJSJ, _ZXSJ, _ZT, _YWH, _DBR, _SJBSM,
    )),
    Table("YGDJ", "预告登记", "advance notices", (
        _BSM, _UNIT,
        _c("QLRBSM", "权利人标识码", "BSM of the right holder in QLR"),
        _c("YGDJZL", "预告登记种类", "kind of advance notice (e.g. 预购商品房)"),
        _DJSJ, _ZXSJ, _ZT, _YWH, _DBR, _SJBSM,
    )),
)}
# The order tables are read, checked and written in (a table only refers to tables before it).
TABLE_ORDER = ("ZDJBXX", "SJ", "QLR", "BDCDY", "QL", "QLRGX", "DYAQ", "CFDJ", "YYDJ", "YGDJ")
RESTRICTION_TABLES = {"DYAQ": "mortgage", "CFDJ": "seizure", "YYDJ": "objection", "YGDJ": "advance_notice"}

# 证件种类 (TD/T 1066 code list); 10 is ours: the product tells Taiwan permits apart.
DOCUMENT_TYPES = {"1": "resident_id", "2": "hk_macao_permit", "3": "passport", "7": "unified_social_credit_code",
                  "10": "taiwan_permit", "99": "other"}
# 权利类型: 4 房地产权 is ownership of a building with its land; 99 other.
RIGHT_KINDS = {"4": "ownership", "3": "land_use", "5": "homestead_use", "9": "contract_management", "99": "other"}
# 共有方式
CO_OWNERSHIP = {"0": "sole", "1": "joint", "2": "by_portions", "3": "other"}
UNIT_USES = {"住宅": "residential", "商业": "commercial", "办公": "office", "工业": "industrial", "公共": "public",
             "车位": "parking", "土地": "land", "其他": "other"}
MORTGAGE_KINDS = {"1": False, "2": True}  # 最高额抵押?
# 状态, per kind of restriction: the product's statuses in Chinese.
STATUSES = {
    "mortgage": {"现势": "active", "注销": "discharged"},
    "seizure": {"查封": "active", "轮候": "queued", "解封": "released", "失效": "expired"},
    "objection": {"现势": "active", "注销": "cancelled", "失效": "expired"},
    "advance_notice": {"现势": "active", "注销": "cancelled", "失效": "expired"},
}
ENDED = {"discharged", "released", "expired", "cancelled"}
# 收件类型: the kinds of source document (LA_Source, sources.kind); the Chinese names are ours.
SOURCE_KINDS = {"权属来源证明": "deed", "合同": "contract", "法律文书": "court_order", "测绘报告": "survey_report",
                "申请书": "application", "权属证书": "certificate", "借款合同": "loan_agreement",
                "身份证明": "identity_document", "其他": "other"}
# The CRS of a ZDJBXX WKT without EPSG: CGCS2000 longitude/latitude.
DEFAULT_EPSG = 4490

# What one exchange may cost to read (docs/register-exchange.md, "Limits"). A parcel's boundary
# holds at most PARCEL_MAX_VERTICES vertices (a surveyed parcel has tens to a few thousand); its
# WKT, like any cell, at most CELL_MAX_CHARS characters (64 per vertex: two 17-digit coordinates
# with separators and room to spare). An XLSX sheet holds at most SHEET_MAX_ROWS rows,
# SHEET_MAX_COLUMNS columns and SHEET_MAX_CELLS cells, checked from the sheet's declared
# dimensions and again while it is read. A CSV file holds at most CSV_MAX_BYTES bytes and a CSV
# or GeoPackage table TABLE_MAX_ROWS rows (as a sheet does), refused by file before they are read
# whole (reading.TableLimits lets a caller set others). A coordinate is finite and within COORDINATE_MAX of 0
# in its CRS's unit (metres or degrees; the earth fits in 1e8 m of any projected CRS).
# The decimal columns of the exchange and the database columns they land in, with those columns'
# precision and scale (numeric(p, s): below 10**(p - s)); tests/registry compares this table with
# information_schema, so a migration that changes one is seen.
NUMERIC_COLUMNS = {
    "JZMJ": ("units", "floor_area", 12, 2),
    "BDBZZQSE": ("restrictions", "secured_amount", 16, 2),
    "ZDMJ": ("parcels", "declared_area", 14, 2),
}
# A BSM (exchange_ids.old_id) holds at most BSM_MAX_CHARS characters.
BSM_MAX_CHARS = 200
# The times of the exchange (DJSJ, ZXSJ, JFSJ: when something was registered or ended) lie from
# EARLIEST_YEAR on and no later than TIME_MARGIN after the import (a registration is never in the
# future); its dates from EARLIEST_YEAR to LATEST_YEAR (a term may end decades ahead: a land-use
# right runs 70 years), but a document's date (WJRQ) no later than TIME_MARGIN after the import.
# Beyond them is a placeholder (.NET writes 0001-01-01 for "no date") or a typing error.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2199
TIME_MARGIN_HOURS = 24
PARCEL_MAX_VERTICES = 100_000
CELL_MAX_CHARS = 64 * PARCEL_MAX_VERTICES
# Any text the checks read (names, locations, document numbers, ...) at most TEXT_MAX_CHARS
# characters: the most an XLSX cell holds, so that whatever is imported can be exported again.
# Boundaries (WKT) are read apart and bounded by CELL_MAX_CHARS.
TEXT_MAX_CHARS = 32_767
SHEET_MAX_ROWS = 1_000_000
SHEET_MAX_COLUMNS = 64
SHEET_MAX_CELLS = 20_000_000
TABLE_MAX_ROWS = 1_000_000
CSV_MAX_BYTES = 1024 * 1024 * 1024
COORDINATE_MAX = 1e8


def reverse(codes: Mapping[str, object]) -> dict[object, str]:
    """Our value -> its code, for export."""
    return {value: code for code, value in codes.items()}
