"""Importing an exchange into the register: one transaction, one audited action.

Order: read (reading.py), check everything (validation.py), then write, all in one transaction
that is committed only when the whole exchange is clean (or, with `clean_units_only`, the clean
units are) and the database accepted every row at commit; a dry run rolls back at the end.

The writes of each stage (units, parties, rights, restrictions) start as soon as its
checks are done, in a second thread, while the next stage is checked: PostgreSQL runs the
guarded tables' triggers on one core while this process checks on the other. Writing early is
safe because all of it is one transaction, rolled back if any problem turns up later. The
units come first, their checks being the cheaper, so PostgreSQL starts sooner. What a stage's
writes need of Python alone (the row digests that split new from changed rows, the parties'
sealed identities) is done by the checking thread before it hands the stage over
(`_Writer.prepare`), so the writer thread needs the GIL little; the rows of each COPY are built
as COPY takes them, so PostgreSQL works on the first rows while the next are built. A CSV
table's rows are built only when the checks reach it (`reading.Exchange`), so the first stage
is written while the later tables are still being read into rows.

Rows whose BSM is new are written in bulk with COPY into the guarded tables themselves (their
triggers and constraints run as for any insert), each with the ids drawn from the tables' own
sequences; rows imported before are compared by digest, and a changed one becomes the next
version of its object (`portal.platform.versioning.supersede`). History keeps its dates: a
right or restriction begins (`begin_lifespan`) at its registration time DJSJ; an ended right's
version ends at ZXSJ; an ended restriction's live version ends at ZXSJ/JFSJ, where the version
with its final status (discharged, released, expired, cancelled) begins, as the portal writes
them. So "as of" reads answer across the migration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from portal.accounts.security import identity_digest, identity_keys, party_identity
from portal.audit.trail import AuditEntry, act_as, record
from portal.platform.errors import CadastreError
from portal.platform.versioning import retire, supersede
from portal.registry.exchange.layout import DOCUMENT_TYPES, ENDED, RESTRICTION_TABLES
from portal.registry.exchange.parcels import ParcelPublishing, import_parcels
from portal.registry.exchange.reading import ReadProblem, TableLimits, read_exchange, shown_name
from portal.registry.exchange.validation import Checked, Known, Problem, check_exchange

__all__ = ["ImportOutcome", "ImportRefused", "import_register", "load_known"]

logger = logging.getLogger(__name__)
_ROW_SOURCE_TABLES = frozenset({"QL", *RESTRICTION_TABLES})
Record = dict[str, Any]
_STAGE_TABLES = {"parties": ("SJ", "QLR"), "units": ("BDCDY",), "rights": ("QL",),
                 "restrictions": tuple(RESTRICTION_TABLES)}
_RESTRICTION_COLUMNS = ("secured_amount", "maximum_amount", "rank", "term_start", "term_end", "court",
                        "document_number", "queue_position", "reason")


class ImportRefused(CadastreError):
    """The database refused the exchange at commit (a rule the checks did not foresee): nothing
    was changed. The message is the database's, naming the rule."""

    status = 422
    code = "register_import_refused"


@dataclass
class ImportOutcome:
    sha256: str
    encodings: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was left as it is, and why (parcels kept)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> new/changed/unchanged
    skipped_units: list[str] = field(default_factory=list)
    dry_run: bool = False
    committed: bool = False

    @property
    def changed_anything(self) -> bool:
        return any(c["new"] or c["changed"] for c in self.counts.values())


def _as_list(values: Iterable[str]) -> list[str]:
    return sorted(set(values))


def load_known(conn: psycopg.Connection, checked_codes: dict[str, list[Any]]) -> Known:
    """What the exchange refers to in the cadastre: parcels and units by code, the mapping of
    old identifiers, parties by identity document ((type, number) pairs, found by digest), and
    for the units already there, their ownership rights' and seizures' spans (Known.owned, seized)."""
    known = Known()
    known.parcels = dict(conn.execute(
        "SELECT parcel_code, parcel_id FROM parcels WHERE end_lifespan IS NULL AND parcel_code = ANY(%s)",
        (checked_codes["parcels"],)).fetchall())
    known.units = {n: i for n, i in conn.execute(
        "SELECT unit_number, unit_id FROM units WHERE end_lifespan IS NULL AND unit_number = ANY(%s)",
        (checked_codes["units"],)).fetchall()}
    numbers = {uid: number for number, uid in known.units.items()}
    for uid, begin, end in conn.execute(
            "SELECT unit_id, begin_lifespan, end_lifespan FROM rights WHERE kind = 'ownership' AND unit_id = ANY(%s)",
            (list(numbers),)):
        known.owned.setdefault(numbers[uid], []).append((begin, end))
    for uid, rid, kind, status, rank, place, begin, end, court, document in conn.execute(
            "SELECT unit_id, restriction_id, kind, status, rank, queue_position, begin_lifespan, end_lifespan, "
            "court, document_number FROM restrictions WHERE unit_id = ANY(%s) AND ("
            "(kind = 'mortgage' AND status = 'active') OR (kind = 'seizure' AND status IN ('active', 'queued')) "
            "OR (end_lifespan IS NULL AND status IN ('discharged', 'released', 'expired', 'cancelled')))",
            (list(numbers),)):
        number = numbers[uid]
        label = f"{court or ''} {document or ''}".strip()
        if status in ENDED:
            known.ended.add(rid)
        elif kind == "mortgage":
            known.ranks.setdefault(number, []).append((rank, begin, end, rid))
        else:
            known.places.setdefault(number, []).append((place, begin, end, label))
            if status == "active":
                known.seized.setdefault(number, []).append((begin, end, label))
                if end is None:
                    known.seized_now.setdefault(number, []).append((rid, label))
    for table, old_id, object_id, digest in conn.execute(
            "SELECT exchange_table, old_id, object_id, row_digest FROM exchange_ids"):
        known.mapped.setdefault(table, {})[old_id] = (object_id, bytes(digest))
    key = identity_keys().digest
    by_digest = {identity_digest(key, kind, number): (kind, number) for kind, number in checked_codes["documents"]}
    for digest, party_id, name in conn.execute(
            "SELECT id_document_digest, party_id, name FROM parties "
            "WHERE end_lifespan IS NULL AND id_document_digest = ANY(%s)", (list(by_digest),)):
        known.documents[by_digest[bytes(digest)]] = (party_id, name)
    return known


def _ids(conn: psycopg.Connection, sequence: str, n: int) -> list[int]:
    if n == 0:
        return []
    return [i for (i,) in conn.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", (sequence, n))]


# The database column a COPY error names -> the exchange column it came from (per table when
# the same database column comes from different exchange columns).
_EXCHANGE_COLUMNS = {
    "floor_area": "JZMJ", "location": "ZL", "unit_number": "BDCDYH", "use": "YT", "name": "QLRMC",
    "id_document_type": "ZJZL", "secured_amount": "BDBZZQSE", "rank": "DYSW", "queue_position": "LHSX",
    "term_start": "ZWLXQSSJ", "term_end": "ZWLXJSSJ", "court": "CFJG", "document_number": "CFWH",
    "certificate_number": "BDCQZH", "begin_lifespan": "DJSJ", "end_lifespan": "ZXSJ", "registered_on": "DJSJ",
    "kind": "QLLX", "co_ownership": "GYFS", "share_numerator": "QLBL", "share_denominator": "QLBL",
    "issued_on": "WJRQ", "issuer": "FZJG", "description": "SJMC", "reference": "WJBH", "reason": "YYSX",
}
_SEIZURE_COLUMNS = {"term_start": "CFQSSJ", "term_end": "CFJSSJ", "end_lifespan": "JFSJ"}
_CONSTRAINT_COLUMNS = {"mortgage_rank_unique": "DYSW", "seizure_queue_unique": "LHSX", "restriction_term_order": "",
                       "right_one_ownership_per_unit": "DJSJ", "share_proper_fraction": "QLBL"}
# COPY's own line in the error context (a trigger's error context names its function's line first).
_COPY_LINE = re.compile(r"\bCOPY \w+, line ([0-9]+)(?:, column (\w+))?")


class _Placed(Exception):  # noqa: N818 (not an error of ours: a database refusal, placed)
    """The database refused a row of a COPY, placed at the exchange row it came from."""

    def __init__(self, problem: Problem, table: str = "", constraint: str = "") -> None:
        super().__init__(str(problem))
        self.problem = problem
        self.table = table
        self.constraint = constraint  # set when the column is still to be found from the constraint

    def placed(self, conn: psycopg.Connection) -> Problem:
        """The problem, its column found from the constraint's columns when COPY did not name it
        (a CHECK constraint): looked up after the rollback, in the catalogue."""
        if not self.constraint:
            return self.problem
        found = conn.execute("SELECT a.attname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
                             "AND a.attnum = ANY(c.conkey) WHERE c.conname = %s AND c.conrelid = %s::regclass "
                             "ORDER BY a.attnum LIMIT 1", (self.constraint, self.table)).fetchone()
        conn.rollback()
        column = _EXCHANGE_COLUMNS.get(found[0]) if found else None
        return dataclasses.replace(self.problem, column=column) if column else self.problem


def _copy(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          origin: Callable[[int], Record | None] | None = None) -> None:
    """COPY `rows` into `table`. When the database refuses a row (a value its column cannot hold,
    a constraint), `origin(n)` gives the record whose row COPY took n-th (1 first), and _Placed
    is raised naming that record's file, row, column and unit (COPY's error context names the
    line; the column from the context or the constraint's name)."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    try:
        with conn.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as error:
        found = _COPY_LINE.search(error.diag.context or "")
        rec = origin(int(found[1])) if origin is not None and found else None
        if rec is None or rec.get("_row") is None:
            raise
        constraint = error.diag.constraint_name or ""
        database_column = (found[2] if found and found[2] else None) or error.diag.column_name or next(
            (c for c in columns if c in constraint), "term_end" if constraint == "restriction_term_order" else "")
        names = {**_EXCHANGE_COLUMNS, **(_SEIZURE_COLUMNS if rec.get("kind") == "seizure" else {})}
        column = _CONSTRAINT_COLUMNS.get(constraint) or names.get(database_column)
        row = rec["_row"]
        message = f"the register refused the row: {error.diag.message_primary}"
        if error.diag.constraint_name:
            message += f" (rule {error.diag.constraint_name})"
        raise _Placed(Problem(row.file, row.number, column or "BSM", message, rec.get("unit_number")), table,
                      constraint if column is None else "") from error


def _digester(records: list[Record]) -> Callable[[Record], bytes]:
    """The row digest of a record of the table whose records these are: of its values, in one key
    order per table (times as instants: the same time written otherwise is no change)."""
    # The cited source document counts only when given, so the digests of rows imported before
    # the layout had SJBSM stay what they were.
    keys = sorted(k for k in records[0] if k[0] != "_" and k not in ("BSM", "source_document"))
    times = [i for i, k in enumerate(keys) if k in ("begin", "end")]

    def digest(rec: Record) -> bytes:
        values = [rec[k] for k in keys]
        for i in times:
            if values[i] is not None:
                values[i] = int(values[i].timestamp() * 1_000_000)
        if rec.get("source_document") is not None:
            values.append(("source_document", rec["source_document"]))
        return hashlib.sha256(repr(values).encode()).digest()
    return digest


class _Writer:
    def __init__(self, conn: psycopg.Connection, known: Known, checked: Checked, zone: dt.tzinfo) -> None:
        self.conn = conn
        self.known = known
        self.checked = checked
        self.zone = zone
        self.counts: dict[str, dict[str, int]] = {}
        self.party_ids: dict[str, int] = {bsm: v[0] for bsm, v in known.mapping("QLR").items()}
        self.source_ids: dict[str, int] = {bsm: v[0] for bsm, v in known.mapping("SJ").items()}
        self.unit_ids: dict[str, int] = dict(known.units)
        self.mapping_rows: list[tuple[str, str, int, bytes]] = []
        self.row_sources: dict[tuple[str, str], Jsonb] = {}
        self.problems: list[Problem] = []
        self.prepared: dict[str, tuple[list[Record], list[tuple[Record, int]]]] = {}
        self.dealt: list[Record] = []  # changed ownerships written before the seizures were checked

    def prepare(self, stage: str) -> None:
        """The Python work of a stage that needs no database, done by the checking thread before
        the stage is handed to the writer thread: the splits (row digests) of its tables and the
        new or changed parties' sealed identities. Done there, the writer thread needs the GIL
        only to format its COPY rows: a writer that needs it for more is starved by the checks
        running beside it (measured: the parties' COPY took twice as long when it sealed them)."""
        for table in _STAGE_TABLES[stage]:
            self.prepared[table] = self.split(table)
        if stage == "parties":
            keys = identity_keys()
            new, changed = self.prepared["QLR"]
            fresh = [rec for rec in new if (rec["id_document_type"], rec["id_document_number"])
                     not in self.known.documents]  # a known person is adopted, not written (parties())
            for rec in [*fresh, *(rec for rec, _pid in changed)]:  # "_" keys are not in the row digest
                rec["_identity"] = party_identity(keys, rec["id_document_type"], rec["id_document_number"])

    def taken(self, table: str) -> tuple[list[Record], list[tuple[Record, int]]]:
        """The split of a table `prepare` made, or made now."""
        prepared = self.prepared.pop(table, None)
        return prepared if prepared is not None else self.split(table)

    def split(self, table: str) -> tuple[list[Record], list[tuple[Record, int]]]:
        """New records, and changed ones with their object id; unchanged ones are counted only."""
        mapped = self.known.mapping(table)
        new: list[Record] = []
        changed: list[tuple[Record, int]] = []
        unchanged = 0
        records = self.checked.records.get(table, [])
        if not records:
            self.counts[table] = {"new": 0, "changed": 0, "unchanged": 0}
            return new, changed
        digester = _digester(records)
        for rec in records:
            digest = rec["_digest"] = digester(rec)
            before = mapped.get(rec["BSM"])
            if before is None:
                new.append(rec)
            elif before[1] != digest:
                changed.append((rec, before[0]))
            else:
                unchanged += 1
        self.counts[table] = {"new": len(new), "changed": len(changed), "unchanged": unchanged}
        return new, changed

    def remember(self, table: str, rec: Record, object_id: int) -> None:
        self.mapping_rows.append((table, rec["BSM"], object_id, rec["_digest"]))
        if table in _ROW_SOURCE_TABLES:  # the row's own YWH, DBR and SJBSM, written back by the export
            self.row_sources[(table, rec["BSM"])] = Jsonb({"YWH": rec["reference"], "DBR": rec["registrar"],
                                                           "SJBSM": rec.get("source_document")})

    def source_documents(self) -> None:
        """SJ: a new document becomes a source; a document is immutable once recorded (as
        `sources` is), so a changed row is refused: a corrected document takes a new BSM."""
        new, changed = self.taken("SJ")
        for rec, _ in changed:
            row = rec["_row"]
            self.problems.append(Problem(row.file, row.number, "BSM", f"source document {rec['BSM']!r} changed since "
                                         "it was imported, but a recorded document never changes: give the "
                                         "corrected document a BSM of its own", None))
        ids = _ids(self.conn, "sources_source_id_seq", len(new))
        _copy(self.conn, "sources", ("source_id", "kind", "reference", "issued_on", "issuer", "description"),
              ((sid, r["kind"], r["reference"], r["issued_on"], r["issuer"], r["description"])
               for r, sid in zip(new, ids, strict=True)), _nth(new))
        for rec, sid in zip(new, ids, strict=True):
            self.source_ids[rec["BSM"]] = sid
            self.remember("SJ", rec, sid)

    def sources(self, records: list[Record], table: str) -> None:
        """Each record's source: the SJ document it cites, or one made of its YWH and DBR."""
        cited = [rec for rec in records if rec.get("source_document") is not None]
        for rec in cited:
            rec["_source"] = self.source_ids[rec["source_document"]]
        records = [rec for rec in records if rec.get("source_document") is None]
        ids = _ids(self.conn, "sources_source_id_seq", len(records))

        def rows() -> Iterator[tuple[Any, ...]]:
            for rec, source_id in zip(records, ids, strict=True):
                rec["_source"] = source_id
                yield (source_id, "application", rec["reference"] or f"exchange:{table}:{rec['BSM']}",
                       rec["begin"].astimezone(self.zone).date(), rec["registrar"])
        _copy(self.conn, "sources", ("source_id", "kind", "reference", "issued_on", "issuer"), rows(), _nth(records))

    # -- parties ------------------------------------------------------------------------

    def parties(self) -> None:
        new, changed = self.taken("QLR")
        fresh = []
        for rec in new:
            existing = self.known.documents.get((rec["id_document_type"], rec["id_document_number"]))
            if existing is not None:  # the same person, already a party: adopt it
                self.party_ids[rec["BSM"]] = existing[0]
                self.remember("QLR", rec, existing[0])
            else:
                fresh.append(rec)
        ids = _ids(self.conn, "party_id_seq", len(fresh))
        columns = ("party_id", "kind", "name", "id_document_type", "id_document_digest", "id_document_masked",
                   "id_document_sealed")
        keys = identity_keys()

        for rec in [*fresh, *(rec for rec, _pid in changed)]:  # sealed by prepare() unless not prepared
            if rec.get("_identity") is None:
                rec["_identity"] = party_identity(keys, rec["id_document_type"], rec["id_document_number"])
        _copy(self.conn, "parties", columns, ((pid, r["kind"], r["name"], r["id_document_type"], *_sealed(r))
                                              for r, pid in zip(fresh, ids, strict=True)), _nth(fresh))
        for rec, pid in zip(fresh, ids, strict=True):
            self.party_ids[rec["BSM"]] = pid
            self.remember("QLR", rec, pid)
        for rec, pid in changed:
            supersede(self.conn, "parties", pid, dict(zip(columns[1:], (rec["kind"], rec["name"],
                                                                          rec["id_document_type"], *_sealed(rec)),
                                                          strict=True)))
            self.remember("QLR", rec, pid)

    # -- units ----------------------------------------------------------------------------

    def units(self) -> None:
        new, changed = self.taken("BDCDY")
        ids = _ids(self.conn, "unit_id_seq", len(new))
        now = self.conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        _copy(self.conn, "units", ("unit_id", "unit_number", "parcel_id", "location", "floor_area", "use",
                                   "begin_lifespan"),
              ((uid, r["unit_number"], r["parcel_id"], r["location"], r["floor_area"], r["use"], r["begin"] or now)
               for r, uid in zip(new, ids, strict=True)), _nth(new))
        for rec, uid in zip(new, ids, strict=True):
            self.unit_ids[rec["unit_number"]] = uid
            self.remember("BDCDY", rec, uid)
        for rec, uid in changed:
            supersede(self.conn, "units", uid, {k: rec[k] for k in ("unit_number", "parcel_id", "location",
                                                                     "floor_area", "use")})
            self.unit_ids[rec["unit_number"]] = uid
            self.remember("BDCDY", rec, uid)

    # -- rights ---------------------------------------------------------------------------

    def right_values(self, rec: Record) -> dict[str, Any]:
        return {"unit_id": self.unit_ids[rec["unit_number"]], "kind": rec["kind"], "co_ownership": rec["co_ownership"],
                "certificate_number": rec["certificate_number"],
                "registered_on": rec["begin"].astimezone(self.zone).date(), "source_id": rec["_source"]}

    def holder_rows(self, version_id: int, rec: Record) -> list[tuple[int, int, int | None, int | None]]:
        return [(version_id, self.party_ids[party], share.numerator if share else None,
                 share.denominator if share else None) for party, share in rec["holders"]]

    def rights(self) -> None:
        new, changed = self.taken("QL")
        # QLRGX rows are part of their right: new, changed or unchanged with it.
        held = sum(len(rec["holders"]) for rec in self.checked.records.get("QL", []))
        fresh, moved = sum(len(r["holders"]) for r in new), sum(len(r["holders"]) for r, _ in changed)
        self.counts["QLRGX"] = {"new": fresh, "changed": moved, "unchanged": held - fresh - moved}
        self.sources(new + [rec for rec, _ in changed], "QL")
        right_ids = _ids(self.conn, "right_id_seq", len(new))
        version_ids = _ids(self.conn, "rights_version_id_seq", len(new))
        holders: list[tuple[int, int, int | None, int | None]] = []
        holder_rights: list[Record] = []  # the right of each holder row, to place a refusal

        def rows() -> Iterator[tuple[Any, ...]]:  # built as COPY takes them (PostgreSQL works meanwhile)
            for rec, rid, vid in zip(new, right_ids, version_ids, strict=True):
                values = self.right_values(rec)
                yield (vid, rid, values["unit_id"], rec["kind"], rec["co_ownership"], rec["certificate_number"],
                       values["registered_on"], rec["_source"], rec["begin"], rec["end"])
                holders.extend(self.holder_rows(vid, rec))
                holder_rights.extend([rec] * len(rec["holders"]))
                self.remember("QL", rec, rid)
        _copy(self.conn, "rights", ("version_id", "right_id", "unit_id", "kind", "co_ownership", "certificate_number",
                                    "registered_on", "source_id", "begin_lifespan", "end_lifespan"), rows(), _nth(new))
        _copy(self.conn, "right_holders", ("right_version_id", "party_id", "share_numerator", "share_denominator"),
              holders, _nth(holder_rights))
        whole = "CFDJ" in self.checked.records  # every record is checked (--clean-units-only): refuse now
        for rec, rid in changed:
            if not self.current(rec, "rights", "right_id", rid, "QL"):
                continue
            if rec["end"] is not None:  # it ended in the old system since: its current version ends now
                retire(self.conn, "rights", rid)
            else:
                if rec["kind"] == "ownership":  # a new version of an ownership is a dealing
                    if whole and self.under_seizure(rec):
                        continue
                    if not whole:
                        self.dealt.append(rec)
                values = self.right_values(rec)
                values.pop("registered_on")  # the registration date stays the first one's
                vid = supersede(self.conn, "rights", rid, values)
                _copy(self.conn, "right_holders", ("right_version_id", "party_id", "share_numerator",
                                                   "share_denominator"), self.holder_rows(vid, rec))
            self.remember("QL", rec, rid)

    def current(self, rec: Record, table: str, identity: str, key: int, exchange_table: str) -> bool:
        """Whether the object may take a new version: its current version has not ended (a right), nor
        is it a restriction's final status (Known.ended; ended_restriction_stays_ended); else the
        problem is placed at the row."""
        ended = table == "restrictions" and key in self.known.ended
        query = sql.SQL("SELECT 1 FROM {} WHERE {} = %s AND end_lifespan IS NULL").format(
            sql.Identifier(table), sql.Identifier(identity))
        if ended or self.conn.execute(query, (key,)).fetchone() is None:
            row = rec["_row"]
            message = (f"{exchange_table} row {rec['BSM']!r} changed, but it ended in the register already: "
                       "an ended record stays as it was")
            self.problems.append(Problem(row.file, row.number, "BSM", message, rec["unit_number"]))
            return False
        return True

    def under_seizure(self, rec: Record) -> bool:
        """Whether the unit of a changed ownership right is under a seizure in effect once the
        exchange is written (no_dealing_under_seizure: a new version of an ownership is a dealing):
        the register's seizures in effect, as the exchange leaves them, and the exchange's new
        ones still in effect. If so, the problem is placed at the right's row, the unit by number."""
        unit = rec["unit_number"]
        seizures = self.checked.records.get("CFDJ", [])
        mapped = self.known.mapping("CFDJ")
        changed = {mapped[s["BSM"]][0]: s for s in seizures if s["BSM"] in mapped}
        label = next((f"{label} in the register" for rid, label in self.known.seized_now.get(unit, [])
                      if rid not in changed or (changed[rid]["status"] == "active")), None)
        label = label or next((f"{s['court']} {s['document_number']} of CFDJ row {s['_row'].number}"
                               for s in seizures if s["unit_number"] == unit and s["BSM"] not in mapped
                               and s["end"] is None and s["_segments"][-1][1:] == (None, 1)), None)
        if label is None:
            return False
        row = rec["_row"]
        self.problems.append(Problem(row.file, row.number, "BDCDYH", f"unit {unit} is under the seizure {label}, "
                                     "in effect: its ownership cannot change (a new version of right "
                                     f"{rec['BSM']!r}) until the seizure is released", unit))
        return True

    # -- restrictions ---------------------------------------------------------------------

    def restrictions(self, table: str) -> None:
        new, changed = self.taken(table)
        self.sources(new + [rec for rec, _ in changed], table)
        ids = _ids(self.conn, "restriction_id_seq", len(new))
        fed: list[Record] = []  # the record of each row COPY took, to place a refusal

        def rows() -> Iterator[tuple[Any, ...]]:  # built as COPY takes them (PostgreSQL works meanwhile)
            for rec, rid in zip(new, ids, strict=True):
                versions = self.restriction_rows(rec, rid)
                fed.extend([rec] * len(versions))
                yield from versions
                self.remember(table, rec, rid)
        _copy(self.conn, "restrictions", ("restriction_id", "version", "status", "unit_id", "kind", "party_id",
                                          *_RESTRICTION_COLUMNS, "source_id", "begin_lifespan", "end_lifespan"), rows(),
              _nth(fed))
        for rec, rid in changed:
            if not self.current(rec, "restrictions", "restriction_id", rid, table) or self.rank_held(rec, rid):
                continue
            supersede(self.conn, "restrictions", rid, {
                "unit_id": self.unit_ids[rec["unit_number"]], "status": rec["status"],
                "party_id": self.party_ids[rec["party"]] if rec["party"] else None,
                "source_id": rec["_source"], **{c: rec[c] for c in _RESTRICTION_COLUMNS}})
            self.remember(table, rec, rid)

    def rank_held(self, rec: Record, rid: int) -> bool:
        """Whether a changed mortgage, active in its new version (from now on), takes a rank another
        mortgage of the unit holds now in the register (mortgage_rank_unique); if so, the problem
        is placed at its row, the unit by number."""
        if rec["kind"] != "mortgage" or rec["status"] != "active":
            return False
        unit = rec["unit_number"]
        held = next(((start, stop) for rank, start, stop, other in self.known.ranks.get(unit, [])
                     if rank == rec["rank"] and other != rid and stop is None), None)
        if held is None:
            return False
        row = rec["_row"]
        self.problems.append(Problem(row.file, row.number, "DYSW", f"rank {rec['rank']} of unit {unit} is held in the "
                                     f"register by another mortgage from {held[0].astimezone(self.zone):%Y-%m-%d %H:%M}"
                                     ", still current: one mortgage per rank at a time", unit))
        return True

    def restriction_rows(self, rec: Record, rid: int) -> list[tuple[Any, ...]]:
        """The versions of a new restriction: its live ones (a seizure's places in the queue), then
        the one with its final status when it ended."""
        live = rec["status"]
        if live in ("discharged", "released", "expired", "cancelled"):
            live = "queued" if rec["kind"] == "seizure" and rec["queue_position"] != 1 else "active"
        common = [self.unit_ids[rec["unit_number"]], rec["kind"],
                  self.party_ids[rec["party"]] if rec["party"] else None,
                  *(rec[c] for c in _RESTRICTION_COLUMNS), rec["_source"]]
        rows: list[tuple[Any, ...]] = []
        if rec["kind"] == "seizure":  # one version per place it held in the queue
            place = _RESTRICTION_COLUMNS.index("queue_position") + 3
            segments = rec["_segments"]
            for version, (start, stop, position) in enumerate(segments, start=1):
                common[place] = position
                rows.append((rid, version, "active" if position == 1 else "queued", *common, start, stop))
            if rec["end"] is not None:
                rows.append((rid, len(segments) + 1, rec["status"], *common, rec["end"], None))
        else:
            rows.append((rid, 1, live, *common, rec["begin"], rec["end"]))
            if rec["end"] is not None:
                rows.append((rid, 2, rec["status"], *common, rec["end"], None))
        return rows

    def mapping(self) -> None:
        """New old ids by COPY (built as COPY takes them); a changed row's digest replaced."""
        mapped = self.known.mapped
        empty: dict[str, tuple[int, bytes]] = {}
        new = ((*row, self.row_sources.get(row[:2])) for row in self.mapping_rows
               if row[1] not in mapped.get(row[0], empty))
        _copy(self.conn, "exchange_ids", ("exchange_table", "old_id", "object_id", "row_digest", "row_source"), new)
        changed = [(row[3], self.row_sources.get(row[:2]), row[0], row[1]) for row in self.mapping_rows
                   if row[1] in self.known.mapping(row[0])]
        if changed:
            with self.conn.cursor() as cur:
                cur.executemany("UPDATE exchange_ids SET row_digest = %s, row_source = %s, last_changed_at = now() "
                                "WHERE exchange_table = %s AND old_id = %s", changed)

    def stage(self, name: str) -> None:
        """Write the records of one stage of the checks (validation.Ready), in this order."""
        if name == "parties":
            self.source_documents()
            self.parties()
        elif name == "units":
            self.units()
        elif name == "rights":
            self.rights()
        else:
            for table in RESTRICTION_TABLES:
                self.restrictions(table)
            for rec in self.dealt:  # written before the seizures were checked: refused now (rolled back)
                self.under_seizure(rec)
            self.dealt.clear()
            self.mapping()

    def run(self) -> None:
        for name in ("parties", "units", "rights", "restrictions"):
            self.stage(name)


def _check_and_write(conn: psycopg.Connection, exchange: Any, known: Known, zone: dt.tzinfo,
                     writer: _Writer, clean: bool) -> Checked:
    """The checks, with the writes of each stage in a second thread as soon as the stage's records
    are done, while the next stage is checked: the database works on one table (its triggers and
    constraints) while this process checks the next. All in `conn`'s one transaction, which the
    caller rolls back if any problem was found, so writing early never keeps anything a problem
    found later refuses. `clean` is False when a problem is already known: nothing is written."""
    failures: list[BaseException] = []
    with ThreadPoolExecutor(1, thread_name_prefix="register-import") as pool:
        futures = []

        def ready(stage: str, checked: Checked) -> None:
            if clean and not checked.problems:
                writer.checked = checked
                writer.prepare(stage)
                futures.append(pool.submit(writer.stage, stage))

        try:
            checked = check_exchange(exchange, known, zone, ready=ready)
        finally:
            for future in futures:  # wait for every write before the connection is used again
                error = future.exception()
                if error is not None:
                    failures.append(error)
    if failures and not checked.problems:
        raise failures[0]  # the first refusal; later writes failed only because the transaction had
    return checked


def _nth(records: Sequence[Record]) -> Callable[[int], Record | None]:
    """The record of the n-th row a COPY took (1 first), for _copy's `origin`."""
    return lambda n: records[n - 1] if 0 < n <= len(records) else None


def _sealed(rec: dict[str, Any]) -> tuple[bytes, str, bytes]:
    """The party's digest, masked form and sealed number (the plain number is not stored)."""
    return rec["_identity"].digest, rec["_identity"].masked, rec["_identity"].sealed


def _codes(exchange: Any) -> dict[str, list[Any]]:
    """The parcel codes, unit numbers and identity documents the exchange names (the unit and
    parcel columns read without building the rows of those tables: Exchange.column)."""
    units = [v for t in ("BDCDY", "QL", *RESTRICTION_TABLES) for v in exchange.column(t, "BDCDYH")]
    return {"parcels": _as_list(exchange.column("BDCDY", "ZDDM")),
            "units": _as_list(units),
            "documents": sorted({(DOCUMENT_TYPES.get(t, t), v.strip().upper()) for r in exchange.rows("QLR")
                                 if (v := r.get("ZJH")) and (t := str(r.get("ZJZL") or "").strip())})}


def import_register(conn: psycopg.Connection, path: Path, *, zone: dt.tzinfo, actor_user_id: int | None,
                    actor_role: str = "registrar", dry_run: bool = False,
                    clean_units_only: bool = False, parcels: ParcelPublishing | None = None,
                    limits: TableLimits | None = None) -> ImportOutcome:
    """Import the exchange at `path` (a directory of CSV tables, an .xlsx workbook or a .gpkg
    GeoPackage) in one transaction on `conn` (which must have none open), committed unless
    `dry_run` or a problem. `parcels` publishes the new parcels of a ZDJBXX table as a survey
    publication would (`portal.surveys.register_parcels`); without it, an exchange with new
    parcels is refused. `limits` bound the rows of a CSV or GeoPackage table and the bytes of a
    CSV file (`reading.TableLimits`, by default layout.TABLE_MAX_ROWS and CSV_MAX_BYTES).

    Returns the outcome: problems (file, row, column), per-table counts of new, changed and
    unchanged rows, the files' SHA-256. Raises `reading.ReadProblem` when a file cannot be
    read, `ImportRefused` when the database refuses the whole at commit (nothing changed).
    Any attempt is one audited action (`register_import`, the SHA-256 as reference when the
    files could be hashed): success, refused (problems, a file that cannot be read, the
    database's refusal) or failure (an unforeseen error, re-raised after it is recorded).
    """
    try:
        exchange = read_exchange(path, limits or TableLimits())
    except ReadProblem as problem:
        _audit_failed(conn, path, problem.sha256, actor_user_id, actor_role, dry_run, "refused", str(problem))
        raise
    except Exception as error:
        _audit_failed(conn, path, "", actor_user_id, actor_role, dry_run, "failure", type(error).__name__)
        raise
    outcome = ImportOutcome(sha256=exchange.sha256, encodings=exchange.encodings, dry_run=dry_run)
    writer: _Writer | None = None
    try:
        known = load_known(conn, _codes(exchange))
        act_as(conn, actor_user_id, actor_role)
        # Parcels first: the units' parcels must be current before the units are checked.
        placed = import_parcels(conn, exchange, known, parcels, clean_only=clean_units_only)
        writer = _Writer(conn, known, Checked(), zone)
        writer.counts["ZDJBXX"] = placed.counts
        writer.mapping_rows.extend(placed.mapping)
        if clean_units_only:  # the clean units are known only after every round: check, then write
            checked = check_exchange(exchange, known, zone, clean_units_only=True)
        else:
            checked = _check_and_write(conn, exchange, known, zone, writer, clean=not placed.problems)
        outcome.problems = placed.problems + list(checked.problems)
        outcome.notes = placed.notes
        outcome.skipped_units = [r["unit_number"] for r in checked.records.pop("_bad_units", [])]
        if not outcome.problems or clean_units_only:
            if clean_units_only:
                writer.checked = checked
                writer.run()
            outcome.problems.extend(writer.problems)
            outcome.counts = writer.counts
            if writer.problems and not clean_units_only:
                conn.rollback()
            elif dry_run:
                conn.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred rules run now, then nothing stays
                conn.rollback()
            else:
                _audit(conn, path, outcome, actor_user_id, actor_role, clean_units_only)
                conn.commit()
                outcome.committed = True
                return outcome
        else:
            conn.rollback()
    except _Placed as placed:  # the database refused a row the checks let through: placed, nothing changed
        conn.rollback()
        outcome.problems = [placed.placed(conn)]
        outcome.counts = {}
        outcome.committed = False
        _audit(conn, path, outcome, actor_user_id, actor_role, clean_units_only, refused=str(outcome.problems[0]))
        conn.commit()
        return outcome
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as error:
        conn.rollback()
        # The database names units by internal id ("unit 42"): a person knows them by number.
        numbers = {str(uid): number for number, uid in writer.unit_ids.items()} if writer is not None else {}
        message = re.sub(r"\bunit (\d+)", lambda m: f"unit {numbers.get(m[1], m[1])}",
                         error.diag.message_primary or type(error).__name__)
        # ... and restrictions by internal id: the exchange's row is the old system's identifier.
        rows = {str(object_id): f"{table} row {bsm!r}" for table, bsm, object_id, _digest in
                (writer.mapping_rows if writer is not None else []) if table in RESTRICTION_TABLES}
        for table in RESTRICTION_TABLES:
            rows.update({str(v[0]): f"{table} row {bsm!r}" for bsm, v in known.mapping(table).items()}
                        if writer is not None else {})
        message = re.sub(r"\brestriction (\d+)", lambda m: rows.get(m[1], "a restriction of the register"),
                         message)
        _audit(conn, path, outcome, actor_user_id, actor_role, clean_units_only, refused=message)
        conn.commit()
        rule = f" ({error.diag.constraint_name})" if error.diag.constraint_name else ""
        raise ImportRefused(f"the register refused the import, nothing was changed: {message}{rule}") from error
    except ReadProblem as problem:  # a GeoPackage feature layer the hardened reader refused
        _audit_failed(conn, path, exchange.sha256, actor_user_id, actor_role, dry_run, "refused", str(problem))
        raise
    except Exception as error:
        _audit_failed(conn, path, exchange.sha256, actor_user_id, actor_role, dry_run, "failure",
                      f"{type(error).__name__}: {str(error)[:300]}")
        raise
    except BaseException:
        conn.rollback()
        raise
    _audit(conn, path, outcome, actor_user_id, actor_role, clean_units_only)
    conn.commit()
    return outcome


def _audit_failed(conn: psycopg.Connection, path: Path, sha256: str, actor_user_id: int | None, actor_role: str,
                  dry_run: bool, outcome: str, problem: str) -> None:
    """Record an attempt that ended before an outcome (unreadable files, an unforeseen error), in
    a transaction of its own; a connection that cannot take it any more is left for the caller's
    error (the attempt's own error is what the caller raises)."""
    try:
        conn.rollback()
        record(conn, AuditEntry(action="register_import", actor_user_id=actor_user_id, actor_role=actor_role,
                                subject=shown_name(path.name), reference=sha256 or None, outcome=outcome,
                                detail={"sha256": sha256 or None, "dry_run": dry_run, "problem": problem[:500]}))
        conn.commit()
    except psycopg.Error:
        logger.exception("register import of %s: the failed attempt could not be audited", shown_name(path.name))


def _audit(conn: psycopg.Connection, path: Path, outcome: ImportOutcome, actor_user_id: int | None, actor_role: str,
           clean_units_only: bool, refused: str | None = None) -> None:
    detail = {"sha256": outcome.sha256, "dry_run": outcome.dry_run, "clean_units_only": clean_units_only,
              "problems": len(outcome.problems), "skipped_units": len(outcome.skipped_units),
              "counts": outcome.counts, "encodings": outcome.encodings}
    if refused:
        detail["refused"] = refused[:500]
    # A clean dry run is a success (its detail says dry_run); problems or the database's refusal: refused.
    clean = not refused and (not outcome.problems or (clean_units_only and not outcome.dry_run))
    record(conn, AuditEntry(action="register_import", actor_user_id=actor_user_id, actor_role=actor_role,
                            subject=shown_name(path.name), reference=outcome.sha256, detail=detail,
                            outcome="success" if clean else "refused"))


