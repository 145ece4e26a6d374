"""The archive's rules: keep a file, attach it, say who may see it, show its pages.

Every function takes a blocking connection (run them with `portal.platform.work.in_worker`) and
an `Archive` (the file store, the page cache and the limits). Reading and rendering an untrusted
file run in the limited worker process of `spatial.readers.isolated.run_isolated`.

Who may see a file (the disclosure table of shared docs/domain.md):

    registrar         every file
    court clerk       files of court orders (sources of kind court_order)
    owner             files of the sources of rights and restrictions on units where the owner's
                      party holds a current right (a verified user whose identity matched a party)
    surveyor          files attached to their own submissions
    public, others    none

Every view of a page, a thumbnail or the original is written to the audit trail, and so is every
refused view.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from portal.archive import queries
from portal.archive.errors import ArchiveNotFound, FileRefused
from portal.archive.inspect import Facts, Refusal, inspect_file, render_full, render_page
from portal.archive.store import FileStore, FolderStore, StoreError, digest, is_digest
from portal.audit.trail import AuditEntry, record
from portal.platform.errors import Forbidden, NotAuthenticated
from portal.platform.permissions import Principal, Role, role_label
from portal.settings import ArchiveSettings, Settings
from spatial.errors import SpatialError
from spatial.readers.isolated import run_isolated
from spatial.readers.limits import ReadLimits

__all__ = ["Archive", "keep", "attach_to_source", "attach_to_application", "attach_to_submission", "files_of_source",
           "files_of_submission", "may_view", "describe", "page_png", "original", "full_page", "file_row", "page_row",
           "render_page_png", "audit_page_view"]

SIZES = ("page", "thumb")


@dataclass(frozen=True)
class Archive:
    """The file store, where rendered pages are cached, and the archive's limits."""

    store: FileStore
    cache: Path
    settings: ArchiveSettings

    @classmethod
    def from_settings(cls, settings: Settings) -> Archive:
        archive = settings.archive
        return cls(FolderStore(archive.store_path(settings.database)), archive.cache_path(settings.database), archive)

    @property
    def limits(self) -> ReadLimits:
        s = self.settings
        return ReadLimits(max_unpacked_bytes=s.max_file_bytes, cpu_seconds=s.cpu_seconds,
                          memory_bytes=s.memory_bytes, wall_seconds=s.wall_seconds)


def _entry(principal: Principal, action: str, sha256: str, *, outcome: str = "success", access: str | None = None,
           client: str | None = None, detail: dict[str, Any] | None = None) -> AuditEntry:
    return AuditEntry(action, outcome=outcome, actor_user_id=principal.user_id, actor_role=role_label(principal),
                      actor_institution=principal.institution, access=access, subject=f"file:{sha256}",
                      client=client, detail=detail)


def _inspect(archive: Archive, name: str, data: bytes) -> Facts:
    if not data:
        raise FileRefused("empty", f"{name}: the file is empty", file=name)
    if len(data) > archive.settings.max_file_bytes:
        raise FileRefused("file_size_limit", f"{name}: the file is larger than {archive.settings.max_file_bytes:,} "
                                             "bytes (archive file size limit)", file=name)
    fd, temporary = tempfile.mkstemp(prefix="cadastre-archive-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        outcome = run_isolated(inspect_file, (temporary, archive.settings.max_pixels, archive.settings.max_pages),
                               limits=archive.limits, name=name)
    except SpatialError as error:  # a limit of the worker, or the worker died
        raise FileRefused("unreadable", f"{name}: {error}", file=name) from error
    finally:
        Path(temporary).unlink(missing_ok=True)
    if isinstance(outcome, Refusal):
        raise FileRefused(outcome.reason, f"{name}: {outcome.message}", file=name)
    facts: Facts = outcome
    return facts


@dataclass(frozen=True)
class Checked:
    """A file the sandboxed inspection accepted (`check_file`), not yet kept: made with no
    database connection, so the routes check a file before their short unit of work."""

    data: bytes
    facts: Facts


def check_file(archive: Archive, name: str, data: bytes) -> Checked:
    """Inspect `data` in the sandboxed worker (type from the bytes, pages, pixels, refusals);
    needs no database connection. FileRefused (422, with `reason`) names why a file is not
    accepted."""
    return Checked(data, _inspect(archive, name, data))


def keep(conn: psycopg.Connection[Any], archive: Archive, principal: Principal, name: str,
         data: bytes | Checked) -> dict[str, Any]:
    """Keep a file in the store and `archive_files` (once per content); returns the file's row.
    `data` already `check_file`d is kept as it is; raw bytes are checked first. FileRefused
    (422, with `reason`) names why a file is not accepted."""
    checked = data if isinstance(data, Checked) else check_file(archive, name, data)
    facts = checked.facts
    sha256 = archive.store.put(checked.data)
    conn.execute(queries.INSERT_FILE, (sha256, facts.media_type, len(checked.data), facts.pages, facts.width,
                                       facts.height, principal.user_id, principal.label))
    return file_row(conn, sha256)


def file_row(conn: psycopg.Connection[Any], sha256: str) -> dict[str, Any]:
    """A kept file's facts (no tier check: for the rooms' own use, never sent as such)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(queries.FILE, (sha256,)).fetchone()
    if row is None:
        raise ArchiveNotFound(f"file {sha256} is not in the archive")
    return row


def attach_to_source(conn: psycopg.Connection[Any], archive: Archive, principal: Principal, source_id: int,
                     name: str, data: bytes | Checked, client: str | None = None) -> dict[str, Any]:
    """A registrar attaches a scan to source `source_id` (at intake of an application or later);
    commits. ArchiveNotFound if there is no such source, Forbidden for anyone but a registrar."""
    if Role.REGISTRAR not in principal.roles:
        raise Forbidden("only registrars attach documents to any source; a court clerk attaches them to the "
                        "applications they received")
    return _attach_to_source(conn, archive, principal, source_id, name, data, client)


def _attach_to_source(conn: psycopg.Connection[Any], archive: Archive, principal: Principal, source_id: int,
                      name: str, data: bytes | Checked, client: str | None) -> dict[str, Any]:
    if conn.execute(queries.SOURCE_EXISTS, (source_id,)).fetchone() is None:
        raise ArchiveNotFound(f"source {source_id} is not in the register")
    row = keep(conn, archive, principal, name, data)
    conn.execute(queries.ATTACH_TO_SOURCE, (source_id, row["sha256"], _file_name(name), principal.user_id,
                                            principal.label))
    record(conn, _entry(principal, "archive.attach", row["sha256"], client=client,
                        detail={"source_id": source_id, "file_name": _file_name(name)}))
    conn.commit()
    return {**row, "file_name": _file_name(name)}


def attach_to_application(conn: psycopg.Connection[Any], archive: Archive, principal: Principal,
                          application_id: int, source_id: int | None, name: str, data: bytes | Checked,
                          client: str | None = None) -> dict[str, Any]:
    """At intake: attach a scan to a source of application `application_id` (`source_id`, default
    its first source), by a registrar or the court clerk who received it; commits."""
    found = conn.execute(queries.APPLICATION_SOURCE, (source_id, source_id, application_id)).fetchone()
    if found is None or found[1] is None:
        raise ArchiveNotFound(f"application {application_id} does not exist or has no source {source_id or ''}".strip())
    received_by, chosen = found
    if Role.REGISTRAR not in principal.roles and received_by != principal.user_id:
        raise ArchiveNotFound(f"application {application_id} was not received by you")
    return _attach_to_source(conn, archive, principal, int(chosen), name, data, client)


def attach_to_submission(conn: psycopg.Connection[Any], archive: Archive, principal: Principal,
                         submission_id: int, name: str, data: bytes | Checked,
                         client: str | None = None) -> dict[str, Any]:
    """The surveyor who made submission `submission_id` (draft or submitted), or a registrar,
    attaches a scan to it; when it is approved the scan is a file of its source. Commits."""
    found = conn.execute(queries.SUBMISSION_OWNER, (submission_id,)).fetchone()
    if found is None or not (found[0] == principal.user_id or Role.REGISTRAR in principal.roles):
        raise ArchiveNotFound(f"submission {submission_id} is not yours or does not exist")
    if found[1] not in ("draft", "submitted"):
        raise FileRefused("submission_closed", f"submission {submission_id} is {found[1]}: files are attached "
                                               "while it is a draft or submitted", file=name)
    row = keep(conn, archive, principal, name, data)
    conn.execute(queries.ATTACH_TO_SUBMISSION, (submission_id, row["sha256"], _file_name(name), principal.user_id,
                                                principal.label))
    record(conn, _entry(principal, "archive.attach", row["sha256"], client=client,
                        detail={"submission_id": submission_id, "file_name": _file_name(name)}))
    conn.commit()
    return {**row, "file_name": _file_name(name)}


def _file_name(name: str) -> str:
    base = (name or "scan").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "".join(c for c in base if c.isprintable())[:255] or "scan"


def _require_someone(principal: Principal) -> None:
    if not principal.authenticated:
        raise NotAuthenticated("log in to see archived documents")


def may_view(conn: psycopg.Connection[Any], principal: Principal, sha256: str) -> bool:
    """Whether `principal` may see the file (the tiers in the module docstring)."""
    if not principal.authenticated:
        return False
    if Role.REGISTRAR in principal.roles:
        return True
    party_id = getattr(principal, "party_id", None)
    row = conn.execute(queries.MAY_VIEW, {
        "sha256": sha256, "clerk": Role.COURT_CLERK in principal.roles,
        "party_id": party_id if Role.VERIFIED_USER in principal.roles else None,
        "surveyor": principal.user_id if Role.SURVEYOR in principal.roles else None}).fetchone()
    return bool(row and row[0])


def _may_view_source(conn: psycopg.Connection[Any], principal: Principal, source_id: int) -> bool:
    if Role.REGISTRAR in principal.roles:
        return True
    party_id = getattr(principal, "party_id", None)
    row = conn.execute(queries.MAY_VIEW_SOURCE, {
        "source_id": source_id, "clerk": Role.COURT_CLERK in principal.roles,
        "party_id": party_id if Role.VERIFIED_USER in principal.roles else None}).fetchone()
    return bool(row and row[0])


def _may_see_attachment(conn: psycopg.Connection[Any], principal: Principal, attachment: dict[str, Any]) -> bool:
    if Role.REGISTRAR in principal.roles:
        return True
    if attachment["kind"] == "source":
        return _may_view_source(conn, principal, int(attachment["id"]))
    made_by, source_id = attachment["created_by"], attachment["source_id"]
    if Role.SURVEYOR in principal.roles and made_by == principal.user_id:
        return True
    return source_id is not None and _may_view_source(conn, principal, int(source_id))


def files_of_source(conn: psycopg.Connection[Any], principal: Principal, source_id: int,
                    client: str | None = None) -> list[dict[str, Any]]:
    """The files of source `source_id` (its own and those of the submission it published), if
    the principal may see them; each listing is audited ("listed"). Commits the audit rows."""
    _require_someone(principal)
    if not _may_view_source(conn, principal, source_id):
        record(conn, AuditEntry("archive.list", outcome="refused", actor_user_id=principal.user_id,
                                actor_role=role_label(principal), subject=f"source:{source_id}", client=client))
        conn.commit()
        raise ArchiveNotFound(f"source {source_id} has no documents you may see")
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(queries.FILES_OF_SOURCE, (source_id, source_id)).fetchall()
    if rows:
        record(conn, [_entry(principal, "archive.list", r["sha256"], access="listed", client=client,
                             detail={"source_id": source_id}) for r in rows])
        conn.commit()
    return rows


def files_of_submission(conn: psycopg.Connection[Any], principal: Principal,
                        submission_id: int) -> list[dict[str, Any]]:
    """The files attached to a submission, for its surveyor and registrars."""
    _require_someone(principal)
    found = conn.execute(queries.SUBMISSION_OWNER, (submission_id,)).fetchone()
    if found is None or not (found[0] == principal.user_id or Role.REGISTRAR in principal.roles):
        raise ArchiveNotFound(f"submission {submission_id} is not yours or does not exist")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(queries.FILES_OF_SUBMISSION, (submission_id,)).fetchall()


def _checked(conn: psycopg.Connection[Any], principal: Principal, sha256: str, action: str,
             client: str | None, detail: dict[str, Any]) -> dict[str, Any]:
    """The file's row if the principal may see it; else the refusal is audited and raised."""
    _require_someone(principal)
    if not is_digest(sha256):
        raise ArchiveNotFound(f"{sha256!r} is not a file's SHA-256")
    if not may_view(conn, principal, sha256):
        record(conn, _entry(principal, action, sha256, outcome="refused", client=client, detail=detail))
        conn.commit()
        if not principal.roles:
            raise Forbidden("archived documents are shown to registrars, court clerks and owners only")
        raise ArchiveNotFound(f"file {sha256} is not in the archive, or not yours to see")
    return file_row(conn, sha256)


def describe(conn: psycopg.Connection[Any], principal: Principal, sha256: str,
             client: str | None = None) -> dict[str, Any]:
    """The file's facts and the attachments of it the principal may see (each by the same tiers
    as the file: a source they may see, a submission they made or whose source they may see;
    a registrar sees all); audited."""
    row = _checked(conn, principal, sha256, "archive.describe", client, {})
    with conn.cursor(row_factory=dict_row) as cur:
        attachments = cur.execute(queries.ATTACHMENTS, (sha256, sha256)).fetchall()
    row["attached_to"] = [a for a in attachments if _may_see_attachment(conn, principal, a)]
    record(conn, _entry(principal, "archive.describe", sha256, access="consulted", client=client))
    conn.commit()
    return row


def page_png(conn: psycopg.Connection[Any], archive: Archive, principal: Principal, sha256: str, page: int,
             size: str = "page", client: str | None = None) -> bytes:
    """Page `page` (1-based) of the file as PNG (`size` "page" or "thumb"), rendered on first
    view and cached; every view is audited. ArchiveNotFound for a page the file does not have.
    The routes run its three steps apart (`page_row`, `render_page_png`, `audit_page_view`), so
    no connection is held while a page renders."""
    row = page_row(conn, principal, sha256, page, size, client)
    png = render_page_png(archive, row, page, size)
    audit_page_view(conn, principal, sha256, page, size, client)
    return png


def page_row(conn: psycopg.Connection[Any], principal: Principal, sha256: str, page: int, size: str = "page",
             client: str | None = None) -> dict[str, Any]:
    """The file's row if the principal may see page `page` of it at `size` (a refusal audited);
    ArchiveNotFound for a size or page it does not have."""
    row = _checked(conn, principal, sha256, "archive.view", client, {"page": page, "size": size})
    if size not in SIZES:
        raise ArchiveNotFound(f"size {size!r} is not one of {', '.join(SIZES)}")
    if not 1 <= page <= row["pages"]:
        raise ArchiveNotFound(f"file {sha256} has {row['pages']} page(s); there is no page {page}")
    return row


def render_page_png(archive: Archive, row: dict[str, Any], page: int, size: str = "page") -> bytes:
    """Page `page` of the file of `row` (`page_row`) as PNG, rendered in the limited worker
    process on first view and cached; no database connection."""
    sha256 = row["sha256"]
    side = archive.settings.page_pixels if size == "page" else archive.settings.thumb_pixels
    cached = archive.cache / sha256[:2] / f"{sha256}-{page}-{side}.png"
    if cached.exists():
        return bytes(cached.read_bytes())
    try:
        source = archive.store.path(sha256)
    except StoreError as error:
        raise ArchiveNotFound(f"file {sha256} is missing from the store") from error
    png: bytes = run_isolated(render_page, (str(source), row["media_type"], page, side), limits=archive.limits,
                              name=sha256)
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=cached.parent, prefix=".render-")
    with os.fdopen(fd, "wb") as f:
        f.write(png)
    os.replace(temporary, cached)
    return png


def audit_page_view(conn: psycopg.Connection[Any], principal: Principal, sha256: str, page: int, size: str,
                    client: str | None = None) -> None:
    """The archive.view row of a page shown; commits."""
    record(conn, _entry(principal, "archive.view", sha256, access="consulted", client=client,
                        detail={"page": page, "size": size}))
    conn.commit()


def original(conn: psycopg.Connection[Any], archive: Archive, principal: Principal, sha256: str,
             client: str | None = None) -> tuple[bytes, str]:
    """The file as kept, and its media type; checked against its hash, audited."""
    row = _checked(conn, principal, sha256, "archive.download", client, {})
    try:
        data = archive.store.get(sha256)
    except StoreError as error:
        raise ArchiveNotFound(f"file {sha256} is missing from the store or altered",
                              log_message=str(error)) from error
    if digest(data) != sha256:  # pragma: no cover - FolderStore.get checks it already
        raise ArchiveNotFound(f"file {sha256} is altered")
    record(conn, _entry(principal, "archive.download", sha256, access="consulted", client=client))
    conn.commit()
    return data, str(row["media_type"])


def full_page(archive: Archive, sha256: str, media_type: str, page: int, dpi: int = 300) -> tuple[Path, int, int]:
    """Page `page` of a kept file at full size as a PNG file (cached; images: their own pixels,
    PDF: rendered at `dpi`), for digitising; returns (path, width, height)."""
    cached = archive.cache / "full" / sha256[:2] / f"{sha256}-{page}-{dpi}.png"
    if cached.exists():
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = None
        with Image.open(cached) as image:
            width, height = image.size
        return cached, width, height
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=cached.parent, prefix=".render-", suffix=".png")
    os.close(fd)
    limits = ReadLimits(max_unpacked_bytes=4 * 1024**3, cpu_seconds=archive.settings.cpu_seconds,
                        memory_bytes=archive.settings.memory_bytes, wall_seconds=archive.settings.wall_seconds)
    try:
        width, height = run_isolated(render_full, (str(archive.store.path(sha256)), media_type, page, dpi, temporary),
                                     limits=limits, name=sha256)
        os.replace(temporary, cached)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return cached, int(width), int(height)
