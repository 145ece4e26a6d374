"""Load the demo district into an empty cadastre with COPY, deterministically for a seed.

The district (see district.py) gets units, parties, rights with sole, joint and by-portion
ownership, mortgages (maximum-amount and second-rank ones), seizures (queued ones too),
objections, advance notices, and history: transfers, discharged mortgages, released
seizures, land-use changes, splits and merges with their lineage. All rows go through the
database's own rules (constraints and triggers are not switched off), so loading the demo
also proves the rules accept a realistic register.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np
import psycopg
import shapely
from psycopg import sql

from portal.accounts.key_check import check_keys
from portal.accounts.security import IdentityKeys, party_identity
from portal.demo.applications import load_applications
from portal.demo.district import (
    ADMIN_AREA,
    BLOCK_KINDS,
    LAND_USE,
    STREETS,
    SURVEY_SRID,
    layout_district,
)
from portal.demo.people import BANKS, COURTS, natural_persons, organisations
from portal.platform.rows import one_row
from portal.settings import Settings
from spatial.validation import ValidationRules

__all__ = ["DemoError", "DemoSummary", "load_demo", "holds_parcels"]

UTC = dt.UTC
EPOCH = dt.date(2026, 1, 1)
# The survey rules the demo's declared areas keep to: the product's defaults (SurveySettings).
_DEMO_RULES = ValidationRules()
KINDS = list(BLOCK_KINDS)
SHARE_SETS = [((1, 2), (1, 2)), ((1, 3), (2, 3)), ((1, 4), (3, 4)), ((30, 100), (70, 100)),
              ((1, 3), (1, 3), (1, 3)), ((1, 2), (1, 4), (1, 4))]


class DemoError(RuntimeError):
    """The demo cannot be loaded here (for instance the cadastre is not empty)."""


@dataclass
class DemoSummary:
    seed: int
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _moment(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _years_later(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# The register is built from plain dicts of parcel records; these read one of their values back.
def _date_of(value: object) -> dt.date:
    assert isinstance(value, dt.date)
    return value


def _int_of(value: object) -> int:
    assert isinstance(value, int)
    return value


def _float_of(value: object) -> float:
    assert isinstance(value, float)
    return value


def _records_of(value: object) -> list[dict[str, object]]:
    assert isinstance(value, list)
    return value


class _MortgageFields(TypedDict):
    party_id: int
    secured_amount: float
    maximum_amount: bool
    rank: int
    term_start: dt.date
    term_end: dt.date


class _SeizureFields(TypedDict):
    court: str
    queue_position: int
    document_number: str
    term_start: dt.date
    term_end: dt.date
    reason: str


class _Rows:
    """Accumulates the rows of one table with explicit, sequential identifiers."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self.rows: list[tuple[object, ...]] = []

    def add(self, *values: object) -> int:
        self.rows.append(values)
        return len(self.rows)


class _Register:
    """Builds every table's rows from the seeded generator, in a fixed order."""

    def __init__(self, n_parcels: int, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.n = n_parcels
        self.sources = _Rows(("source_id", "kind", "reference", "issued_on", "issuer", "recorded_at"))
        self.parcels = _Rows(("version_id", "parcel_id", "version", "parcel_code", "admin_area_code",
                              "land_use_code", "status", "survey_geom", "declared_area", "valid_from",
                              "valid_to", "source_id", "begin_lifespan", "end_lifespan"))
        self.lineage = _Rows(("parent_parcel_id", "child_parcel_id", "event", "recorded_at", "source_id"))
        self.units = _Rows(("version_id", "unit_id", "version", "unit_number", "parcel_id", "location",
                            "floor_area", "use", "begin_lifespan", "end_lifespan"))
        self.parties = _Rows(("version_id", "party_id", "version", "kind", "name", "id_document_type",
                              "id_document_number", "begin_lifespan"))
        self.rights = _Rows(("version_id", "right_id", "version", "unit_id", "kind", "co_ownership",
                             "certificate_number", "registered_on", "source_id", "begin_lifespan",
                             "end_lifespan"))
        self.holders = _Rows(("right_version_id", "party_id", "share_numerator", "share_denominator"))
        self.restrictions = _Rows(("version_id", "restriction_id", "version", "unit_id", "kind", "status",
                                   "party_id", "secured_amount", "maximum_amount", "rank", "term_start",
                                   "term_end", "court", "document_number", "reason", "queue_position",
                                   "source_id", "begin_lifespan", "end_lifespan"))
        self._sequence: dict[tuple[int, int], int] = {}
        self._parcel_id = 0
        self._right_id = 0
        self._restriction_id = 0
        self._person = 0
        self._company = 0
        self.boundary_wkb = ""

    # -- helpers ---------------------------------------------------------------------
    def _day(self, start: dt.date, end: dt.date) -> dt.date:
        span = (end - start).days
        return start + dt.timedelta(days=int(self.rng.integers(0, max(span, 1))))

    def _source(self, kind: str, reference: str, day: dt.date, issuer: str | None = None) -> int:
        return self.sources.add(len(self.sources.rows) + 1, kind, reference, day, issuer, _moment(day, 8))

    def _code(self, block_i: int, block_j: int, feature: str) -> str:
        tiles = math.ceil(self._grid / 64)
        district = 1 + (block_j // 64) * tiles + block_i // 64
        sub = 1 + ((block_j % 64) // 8) * 8 + (block_i % 64) // 8
        seq = self._sequence.get((district, sub), 0) + 1
        self._sequence[(district, sub)] = seq
        return f"{ADMIN_AREA[0]}{district:03d}{sub:03d}{feature}{seq:05d}"

    # -- parcels ---------------------------------------------------------------------
    def build_parcels(self) -> list[dict[str, object]]:
        """Returns the current parcels (with what units need to know about them)."""
        rng = self.rng
        n_merge = round(self.n * 0.02)
        n_split = round(self.n * 0.02)
        district = layout_district(self.n + n_merge, rng)
        self._grid = district.grid_size
        c = district.cells
        self.boundary_wkb = shapely.to_wkb(
            shapely.set_srid(district.boundary(), SURVEY_SRID), hex=True, include_srid=True)

        # Pairs of neighbouring cells (same block and row) become merges and splits.
        pairable = np.flatnonzero((c.block[:-1] == c.block[1:]) & (c.row[:-1] == c.row[1:]))
        pairable = pairable[pairable % 2 == 0]
        chosen = rng.permutation(pairable)
        merges = set(chosen[:n_merge].tolist())
        splits = set(chosen[n_merge:n_merge + n_split].tolist())
        changed_use = rng.random(len(c)) < 0.01

        # Every parcel record: rectangle (local metres), land use, dates, lineage role.
        records: list[dict[str, object]] = []
        i = 0
        total = len(c)
        while i < total:
            kind = KINDS[int(c.kind[i])]
            uses = LAND_USE[kind]
            use = uses[int(rng.integers(0, len(uses)))]
            feature = "JC" if kind == "homestead" else "GB"
            born = self._day(dt.date(1996, 1, 1), dt.date(2019, 1, 1))
            base = dict(kind=kind, use=use, feature=feature, bi=int(c.block_i[i]), bj=int(c.block_j[i]),
                        row=int(c.row[i]), col=int(c.col[i]))
            if i in merges or i in splits:
                event_day = self._day(born + dt.timedelta(days=400), dt.date(2025, 9, 1))
                left = dict(base, rect=(c.xmin[i], c.ymin[i], c.xmax[i], c.ymax[i]))
                right = dict(base, rect=(c.xmin[i + 1], c.ymin[i + 1], c.xmax[i + 1], c.ymax[i + 1]),
                             col=int(c.col[i + 1]))
                whole = dict(base, rect=(c.xmin[i], c.ymin[i], c.xmax[i + 1], c.ymax[i]))
                if i in merges:
                    parents = [dict(left, born=born, ended=event_day), dict(right, born=born, ended=event_day)]
                    children = [dict(whole, born=event_day, current=True)]
                    event = "merge"
                else:
                    parents = [dict(whole, born=born, ended=event_day)]
                    children = [dict(left, born=event_day, current=True), dict(right, born=event_day, current=True)]
                    event = "split"
                records.extend(parents)
                records.extend(children)
                for p in parents:
                    p["children"] = children
                    p["event"] = event
                i += 2
                continue
            record = dict(base, rect=(c.xmin[i], c.ymin[i], c.xmax[i], c.ymax[i]), born=born, current=True)
            if changed_use[i] and kind in ("industrial", "commercial"):
                record["previous_use"] = "0601" if use != "0601" else "0604"
                record["changed"] = self._day(born + dt.timedelta(days=300), dt.date(2025, 6, 1))
            records.append(record)
            i += 1

        rect = np.array([r["rect"] for r in records], dtype=float)
        polys = district.polygons(rect[:, 0], rect[:, 1], rect[:, 2], rect[:, 3])
        wkb = shapely.to_wkb(shapely.set_srid(polys, SURVEY_SRID), hex=True, include_srid=True)
        areas = shapely.area(polys)
        # Declared areas as a survey report states them: off the measured one by at most half the
        # survey rule's tolerance (spatial.validation.ValidationRules.area_tolerance, ΔS = 2·m·√S),
        # so the demo's own export imports again (a 0.2 % spread was refused for one parcel in six).
        tolerance = np.array([_DEMO_RULES.area_tolerance(float(a)) for a in areas])
        offset = np.clip(rng.normal(0, 0.5, len(records)), -1, 1) * 0.5 * tolerance

        current: list[dict[str, object]] = []
        for k, r in enumerate(records):
            self._parcel_id += 1
            r["parcel_id"] = self._parcel_id
            r["code"] = self._code(_int_of(r["bi"]), _int_of(r["bj"]), str(r["feature"]))
            r["area"] = float(areas[k])
            born = _date_of(r["born"])
            survey = self._source("survey_report", f"杭规测[{born.year}]{self._parcel_id:06d}号", born,
                                  "杭州市勘测设计研究院")
            declared = round(float(areas[k] + offset[k]), 2)
            ended = r.get("ended")
            if "changed" in r:
                changed = _date_of(r["changed"])
                self.parcels.add(len(self.parcels.rows) + 1, r["parcel_id"], 1, r["code"], ADMIN_AREA[0],
                                 r["previous_use"], "registered", wkb[k], declared, born, None, survey,
                                 _moment(born), _moment(changed))
                self.parcels.add(len(self.parcels.rows) + 1, r["parcel_id"], 2, r["code"], ADMIN_AREA[0],
                                 r["use"], "registered", wkb[k], declared, born, None, survey,
                                 _moment(changed), None)
            else:
                self.parcels.add(len(self.parcels.rows) + 1, r["parcel_id"], 1, r["code"], ADMIN_AREA[0],
                                 r["use"], "registered", wkb[k], declared, born, ended, survey,
                                 _moment(born), _moment(ended) if isinstance(ended, dt.date) else None)
            if r.get("current"):
                current.append(r)
        for r in records:
            for child in _records_of(r.get("children", [])):
                ended = r["ended"]
                assert isinstance(ended, dt.date)
                deed = self._source("survey_report", f"分合宗[{ended.year}]{r['parcel_id']:06d}", ended,
                                    "杭州市规划和自然资源局上城分局")
                self.lineage.add(r["parcel_id"], child["parcel_id"], r["event"], _moment(ended), deed)
        return current

    # -- parties ---------------------------------------------------------------------
    def build_parties(self, n_persons: int, n_companies: int) -> None:
        names, numbers = natural_persons(self.rng, n_persons)
        since = _moment(dt.date(1995, 1, 1))
        for name, number in zip(names, numbers, strict=True):
            pid = len(self.parties.rows) + 1
            self.parties.add(pid, pid, 1, "natural_person", name, "resident_id", number, since)
        self._first_company = len(self.parties.rows) + 1
        org_names, codes = organisations(self.rng, n_companies)
        for name, code in zip(org_names, codes, strict=True):
            pid = len(self.parties.rows) + 1
            self.parties.add(pid, pid, 1, "legal_person", name, "unified_social_credit_code", code, since)
        self._n_persons = n_persons
        self._n_companies = n_companies

    def seal_parties(self, keys: IdentityKeys) -> None:
        """The register keeps no identity number in clear: digest, masked form and sealed number
        instead (`security.party_identity`), as the register's workflow writes them."""
        sealed = _Rows(("version_id", "party_id", "version", "kind", "name", "id_document_type",
                        "id_document_digest", "id_document_masked", "id_document_sealed", "begin_lifespan"))
        for version_id, party_id, version, kind, name, doc_type, number, since in self.parties.rows:
            identity = party_identity(keys, str(doc_type), str(number))
            sealed.add(version_id, party_id, version, kind, name, doc_type, identity.digest, identity.masked,
                       identity.sealed, since)
        self.parties = sealed

    def _next_person(self) -> int:
        self._person = self._person % self._n_persons + 1
        return self._person

    def _some_person(self) -> int:
        return int(self.rng.integers(1, self._n_persons + 1))

    def _bank(self) -> int:
        return self._first_company + int(self.rng.integers(0, len(BANKS)))

    def _next_company(self) -> int:
        """Companies (not banks) in turn; party ids of organisations follow the persons'."""
        index = len(BANKS) + self._company % (self._n_companies - len(BANKS))
        self._company += 1
        return self._first_company + index

    # -- units, rights, restrictions -------------------------------------------------------
    def build_units(self, parcels: list[dict[str, object]]) -> list[tuple[int, str, dt.date]]:
        units: list[tuple[int, str, dt.date]] = []
        rng = self.rng
        for p in parcels:
            use = str(p["use"])
            born = p["born"]
            assert isinstance(born, dt.date)
            street = STREETS[_int_of(p["bj"]) % len(STREETS)]
            house = 1 + 2 * (_int_of(p["bi"]) * 16 + _int_of(p["row"]) * 8 + _int_of(p["col"]))
            address = f"杭州市上城区{street}{house}号"
            specs: list[tuple[str, str, float | None, str]]
            if use in ("0701",):
                rooms = int(rng.integers(1, 4))
                specs = [(f"F0001{(k // 2) + 1:02d}{(k % 2) + 1:02d}", f"{address}1幢{(k // 2) + 1}0{(k % 2) + 1}室",
                          round(float(rng.uniform(55, 165)), 2), "residential") for k in range(rooms)]
            elif use == "0702":
                specs = [("F00010001", address, round(float(rng.uniform(90, 260)), 2), "residential")]
            elif use.startswith("05"):
                specs = [(f"F0001{k + 1:04d}", f"{address}{k + 1}层", round(float(rng.uniform(80, 900)), 2),
                          "commercial" if k == 0 else "office") for k in range(int(rng.integers(1, 3)))]
            elif use == "0810":
                specs = [("W00000000", address, None, "land")]
            elif use.startswith("06"):
                specs = [("F00010001", address, round(_float_of(p["area"]) * 0.55, 2), "industrial")]
            else:
                specs = [("F00010001", address, round(_float_of(p["area"]) * 0.5, 2), "public")]
            for suffix, location, floor_area, unit_use in specs:
                uid = len(self.units.rows) + 1
                self.units.add(uid, uid, 1, f"{p['code']}{suffix}", p["parcel_id"], location, floor_area,
                               unit_use, _moment(born, 10), None)
                units.append((uid, unit_use, born))
        return units

    def _right(self, unit_id: int, form: str, holders: Iterable[tuple[int, int | None, int | None]],
               day: dt.date, until: dt.date | None, right_id: int | None = None, version: int = 1) -> int:
        deed = self._source("contract" if version > 1 else "deed", f"杭房合[{day.year}]{unit_id:07d}-{version}", day)
        if right_id is None:
            self._right_id += 1
            right_id = self._right_id
        vid = len(self.rights.rows) + 1
        cert = f"浙({day.year})杭州市不动产权第{(unit_id * 7 + version) % 10_000_000:07d}号"
        self.rights.add(vid, right_id, version, unit_id, "ownership", form, cert, day, deed, _moment(day, 11),
                        _moment(until, 11) if until else None)
        for party, num, den in holders:
            self.holders.add(vid, party, num, den)
        return right_id

    def _owners(self, unit_use: str) -> tuple[str, list[tuple[int, int | None, int | None]]]:
        rng = self.rng
        if unit_use not in ("residential",):
            return "sole", [(self._next_company(), None, None)]
        draw = rng.random()
        if draw < 0.60:
            return "sole", [(self._next_person(), None, None)]
        if draw < 0.85:
            return "joint", [(self._next_person(), None, None), (self._next_person(), None, None)]
        if draw < 0.97:
            shares = SHARE_SETS[int(rng.integers(0, len(SHARE_SETS)))]
            return "by_portions", [(self._next_person(), n, d) for n, d in shares]
        return "other", [(self._next_person(), None, None)]

    def _restriction(self, unit_id: int, kind: str, status: str, day: dt.date, until: dt.date | None, *,
                     restriction_id: int | None = None, version: int = 1, **fields: object) -> int:
        if restriction_id is None:
            self._restriction_id += 1
            restriction_id = self._restriction_id
        source_kind = {"mortgage": "loan_agreement", "seizure": "court_order"}.get(kind, "application")
        source = self._source(source_kind, str(fields.get("document_number") or
                                               f"杭登[{day.year}]{restriction_id:07d}-{version}"), day,
                              str(fields["court"]) if fields.get("court") else None)
        vid = len(self.restrictions.rows) + 1
        self.restrictions.add(
            vid, restriction_id, version, unit_id, kind, status, fields.get("party_id"),
            fields.get("secured_amount"), fields.get("maximum_amount"), fields.get("rank"),
            fields.get("term_start"), fields.get("term_end"), fields.get("court"),
            fields.get("document_number"), fields.get("reason"), fields.get("queue_position"), source,
            _moment(day, 14), _moment(until, 14) if until else None)
        return restriction_id

    def build_register(self, units: list[tuple[int, str, dt.date]]) -> None:
        rng = self.rng
        draws = rng.random((len(units), 8))
        for k, (unit_id, unit_use, born) in enumerate(units):
            d = draws[k]
            registered = born + dt.timedelta(days=30 + int(d[7] * 300))
            form, holders = self._owners(unit_use)
            if d[0] < 0.12 and unit_use == "residential":  # a transfer: the earlier owner sold
                sold = self._day(registered + dt.timedelta(days=200), dt.date(2025, 10, 1))
                right_id = self._right(unit_id, "sole", [(self._next_person(), None, None)], registered, sold)
                self._right(unit_id, form, holders, sold, None, right_id=right_id, version=2)
                registered = sold
            else:
                self._right(unit_id, form, holders, registered, None)
            if unit_use != "residential":
                continue
            owner = holders[0][0]
            latest = registered  # seizures come after every dealing: none is registered under one
            if d[1] < 0.25:
                start = self._day(registered, dt.date(2025, 11, 1))
                amount = float(round(rng.uniform(30, 400)) * 10_000)
                self._restriction(unit_id, "mortgage", "active", start, None, party_id=self._bank(),
                                  secured_amount=amount, maximum_amount=bool(d[2] < 0.2), rank=1,
                                  term_start=start, term_end=_years_later(start, 10 + int(d[3] * 20)))
                latest = start
                if d[4] < 0.15:
                    second = self._day(start, dt.date(2025, 12, 1))
                    self._restriction(unit_id, "mortgage", "active", second, None, party_id=self._bank(),
                                      secured_amount=float(round(rng.uniform(10, 100)) * 10_000),
                                      maximum_amount=bool(d[5] < 0.3), rank=2,
                                      term_start=second, term_end=_years_later(second, 5))
                    latest = second
            elif d[1] < 0.33:  # a mortgage that was later discharged
                start = self._day(registered, dt.date(2022, 1, 1))
                end = self._day(start + dt.timedelta(days=200), dt.date(2025, 10, 1))
                mortgage = _MortgageFields(
                    party_id=self._bank(), secured_amount=float(round(rng.uniform(30, 300)) * 10_000),
                    maximum_amount=False, rank=1, term_start=start, term_end=_years_later(start, 20))
                rid = self._restriction(unit_id, "mortgage", "active", start, end, **mortgage)
                self._restriction(unit_id, "mortgage", "discharged", end, None, restriction_id=rid, version=2,
                                  **mortgage)
                latest = start
            after = latest + dt.timedelta(days=1)
            if d[5] < 0.015:  # a seizure, sometimes with queued ones behind it
                start = self._day(max(after, dt.date(2023, 1, 1)), max(after + dt.timedelta(days=30),
                                                                      dt.date(2025, 10, 1)))
                for position in range(1, 2 + int(d[6] < 0.35) + int(d[6] < 0.10)):
                    court = COURTS[int(rng.integers(0, len(COURTS)))]
                    day = start + dt.timedelta(days=40 * (position - 1))
                    self._restriction(unit_id, "seizure", "active" if position == 1 else "queued", day, None,
                                      court=court, queue_position=position,
                                      document_number=f"({day.year})浙0102执{int(rng.integers(100, 9999))}号",
                                      term_start=day, term_end=_years_later(day, 3),
                                      reason="财产保全")
            elif d[5] < 0.02:  # a seizure that was released
                start = self._day(max(after, dt.date(2019, 1, 1)), max(after + dt.timedelta(days=30),
                                                                      dt.date(2023, 1, 1)))
                end = self._day(start + dt.timedelta(days=60), max(start + dt.timedelta(days=90), dt.date(2025, 6, 1)))
                seizure = _SeizureFields(
                    court=COURTS[int(rng.integers(0, len(COURTS)))], queue_position=1,
                    document_number=f"({start.year})浙0102执{int(rng.integers(100, 9999))}号",
                    term_start=start, term_end=_years_later(start, 3), reason="财产保全")
                rid = self._restriction(unit_id, "seizure", "active", start, end, **seizure)
                self._restriction(unit_id, "seizure", "released", end, None, restriction_id=rid, version=2,
                                  **seizure)
            if d[6] > 0.996:
                day = self._day(registered, dt.date(2025, 11, 1))
                self._restriction(unit_id, "objection", "active", day, None, party_id=self._some_person(),
                                  term_start=day, term_end=day + dt.timedelta(days=15),
                                  reason="利害关系人认为不动产登记簿记载的事项错误")
            elif d[6] > 0.986 and owner:
                day = self._day(dt.date(2024, 1, 1), dt.date(2025, 11, 1))
                self._restriction(unit_id, "advance_notice", "active", day, None, party_id=self._some_person(),
                                  term_start=day, reason="预购商品房预告登记")


def _copy(conn: psycopg.Connection, table: str, rows: _Rows) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, rows.columns)))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows.rows:
            copy.write_row(row)


def _reset_sequences(conn: psycopg.Connection) -> None:
    for table, key in (("parcels", "parcel_id"), ("units", "unit_id"), ("parties", "party_id"),
                       ("rights", "right_id"), ("restrictions", "restriction_id")):
        conn.execute(sql.SQL("SELECT setval({}, (SELECT coalesce(max({}), 0) + 1 FROM {}), false)").format(
            sql.Literal(f"{key}_seq"), sql.Identifier(key), sql.Identifier(table)))
        conn.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'version_id'), "
                             "(SELECT coalesce(max(version_id), 0) + 1 FROM {}), false)").format(
            sql.Literal(table), sql.Identifier(table)))
    conn.execute("SELECT setval(pg_get_serial_sequence('sources', 'source_id'), "
                 "(SELECT coalesce(max(source_id), 0) + 1 FROM sources), false)")


def holds_parcels(conn: psycopg.Connection) -> bool:
    """Whether the cadastre holds any parcel, current or retired (the demo loads into an empty one)."""
    return bool(one_row(conn.execute("SELECT EXISTS (SELECT 1 FROM parcels)").fetchone())[0])


def load_demo(url: str, *, settings: Settings, parcels: int = 5000, seed: int = 2025,
              progress: Callable[[str], None] | None = None) -> DemoSummary:
    """Load a seeded demo district of `parcels` current parcels into an empty cadastre.

    Raises DemoError if the cadastre already holds parcels: the demo never mixes with real data.
    """
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    if parcels < 10:
        raise DemoError("the demo district needs at least 10 parcels")
    with psycopg.connect(url) as conn:
        if holds_parcels(conn):
            raise DemoError("the cadastre already holds parcels: load the demo into an empty database "
                            "(`cadastre db reset` empties the managed one)")
        register = _Register(parcels, seed)
        say("laying out streets, blocks and parcels")
        current = register.build_parcels()
        say(f"{len(register.parcels.rows)} parcel versions; building units and the register")
        units = register.build_units(current)
        n_companies = max(len(BANKS) + 5, len(units) // 12)
        register.build_parties(n_persons=max(20, int(len(units) * 1.45)), n_companies=n_companies)
        register.build_register(units)
        # Every key of the installation is made here, while the register is still empty (the
        # app and `cadastre serve` refuse to make one beside a register that has parties).
        register.seal_parties(check_keys(conn, settings).identity_keys)
        say("copying into PostGIS")
        conn.execute(
            "INSERT INTO admin_areas (code, name, boundary) "
            "VALUES (%s, %s, ST_Multi(ST_Transform(%s::geometry, 4490)))",
            (ADMIN_AREA[0], ADMIN_AREA[1], register.boundary_wkb))
        for table, rows in (("sources", register.sources), ("parcels", register.parcels),
                            ("parcel_lineage", register.lineage), ("parties", register.parties),
                            ("units", register.units), ("rights", register.rights),
                            ("right_holders", register.holders), ("restrictions", register.restrictions)):
            t = time.perf_counter()
            _copy(conn, table, rows)
            say(f"  {table}: {len(rows.rows)} rows in {time.perf_counter() - t:.1f} s")
        _reset_sequences(conn)
        t = time.perf_counter()
        applications = load_applications(conn, seed=seed, until=dt.date.today(),
                                         zone=settings.portal.office_timezone)
        say(f"  applications: {applications} rows in {time.perf_counter() - t:.1f} s")
        say("checking co-ownership shares at commit")
        conn.commit()
    say("creating demo accounts")
    from portal.demo.accounts import add_demo_accounts

    add_demo_accounts(url, settings)
    with psycopg.connect(url, autocommit=True) as conn:
        say("analysing")
        conn.execute("ANALYZE")
    summary = DemoSummary(seed=seed, seconds=time.perf_counter() - started)
    summary.counts = {
        "parcels (current)": len(current),
        "parcel versions": len(register.parcels.rows),
        "units": len(register.units.rows),
        "parties": len(register.parties.rows),
        "right versions": len(register.rights.rows),
        "right holders": len(register.holders.rows),
        "restriction versions": len(register.restrictions.rows),
        "sources": len(register.sources.rows),
        "applications": applications,
    }
    return summary
