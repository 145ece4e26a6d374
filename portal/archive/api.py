"""HTTP API of the archive: attach scans to sources and submissions, list them, view their pages.

    POST /api/applications/{id}/files            at intake: a scan for a source of the application (`source_id`,
                                                 default its first), by a registrar or the clerk who received it
    POST /api/sources/{source_id}/files          a registrar attaches a scan (multipart `file`)
    GET  /api/sources/{source_id}/files          the files of a source, for those who may see them
    POST /api/submissions/{submission_id}/files  the submission's surveyor (or a registrar) attaches a scan
    GET  /api/submissions/{submission_id}/files  the files of a submission
    GET  /api/archive/{sha256}                   a file's facts and where it is attached
    GET  /api/archive/{sha256}/pages/{page}.png  page `page` (1-based) as PNG; `?size=thumb` for a thumbnail
    GET  /api/archive/{sha256}/original          the file as kept

Who may see what is decided in `portal.archive.service`; every view is audited there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile, status
from fastapi.responses import Response

from portal.archive import service
from portal.archive.errors import FileRefused
from portal.archive.schemas import ArchiveFileOut, AttachedFileOut
from portal.platform.deps import CurrentPrincipal
from portal.platform.permissions import Action, Principal, require
from portal.platform.requests import client_of
from portal.platform.slots import slots_of, user_key
from portal.platform.state import app_state
from portal.platform.work import in_worker

__all__ = ["router", "archive_of", "limit_of"]

router = APIRouter(tags=["archive"])

Attacher = Annotated[Principal, Depends(require(Action.ATTACH_DOCUMENTS))]
Uploader = Annotated[Principal, Depends(require(Action.UPLOAD_SURVEY_FILE))]
Sha256 = Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="the file's SHA-256, 64 lower-case hex digits")]


def limit_of(request: Request) -> int:
    """The heavy work (reading, rendering, warping a scan) one user may have at once."""
    return int(request.app.state.settings.survey.uploads_at_once_per_user)


def archive_of(request: Request) -> service.Archive:
    """The app's archive (made once from its settings)."""
    return app_state(request, "archive", lambda: service.Archive.from_settings(request.app.state.settings))


async def _content(request: Request, file: UploadFile) -> bytes:
    limit = archive_of(request).settings.max_file_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise FileRefused("file_size_limit", f"{file.filename}: the file is larger than {limit:,} bytes (archive "
                                             "file size limit)", file=file.filename)
    return data


async def _checked(request: Request, file: UploadFile, data: bytes) -> service.Checked:
    """The file inspected in the sandboxed worker with no database connection held (issue 15
    §8): the unit of work that records it is short."""
    return await anyio.to_thread.run_sync(service.check_file, archive_of(request), file.filename or "scan", data)


@router.post("/api/sources/{source_id}/files", status_code=status.HTTP_201_CREATED)
async def attach_to_source(request: Request, principal: Attacher, source_id: int,
                           file: Annotated[UploadFile, File(description="PDF, TIFF, JPEG or PNG")]) -> AttachedFileOut:
    """Attach a scan to a source document; refused with 422 `file_refused` and a `reason`."""
    data = await _content(request, file)
    with slots_of(request).slot(user_key(principal), limit_of(request)):
        checked = await _checked(request, file, data)
        row = await in_worker(request, service.attach_to_source, archive_of(request), principal, source_id,
                              file.filename or "scan", checked, client_of(request))
    return AttachedFileOut.model_validate(row)


@router.post("/api/applications/{application_id}/files", status_code=status.HTTP_201_CREATED)
async def attach_to_application(request: Request, principal: Attacher, application_id: int,
                                file: Annotated[UploadFile, File(description="PDF, TIFF, JPEG or PNG")],
                                source_id: Annotated[int | None, Query(description="a source of the application; "
                                                                                    "default its first")] = None
                                ) -> AttachedFileOut:
    """At intake of an application: attach a scan to one of its source documents."""
    data = await _content(request, file)
    with slots_of(request).slot(user_key(principal), limit_of(request)):
        checked = await _checked(request, file, data)
        row = await in_worker(request, service.attach_to_application, archive_of(request), principal,
                              application_id, source_id, file.filename or "scan", checked, client_of(request))
    return AttachedFileOut.model_validate(row)


@router.get("/api/sources/{source_id}/files")
async def source_files(request: Request, principal: CurrentPrincipal, source_id: int) -> list[AttachedFileOut]:
    rows = await in_worker(request, service.files_of_source, principal, source_id, client_of(request))
    return [AttachedFileOut.model_validate(r) for r in rows]


@router.post("/api/submissions/{submission_id}/files", status_code=status.HTTP_201_CREATED)
async def attach_to_submission(request: Request, principal: Uploader, submission_id: int,
                               file: Annotated[UploadFile, File(description="PDF, TIFF, JPEG or PNG")]
                               ) -> AttachedFileOut:
    """Attach a scan to a submission (it becomes a file of the submission's source on approval)."""
    data = await _content(request, file)
    with slots_of(request).slot(user_key(principal), limit_of(request)):
        checked = await _checked(request, file, data)
        row = await in_worker(request, service.attach_to_submission, archive_of(request), principal,
                              submission_id, file.filename or "scan", checked, client_of(request))
    return AttachedFileOut.model_validate(row)


@router.get("/api/submissions/{submission_id}/files")
async def submission_files(request: Request, principal: CurrentPrincipal, submission_id: int
                           ) -> list[AttachedFileOut]:
    rows = await in_worker(request, service.files_of_submission, principal, submission_id)
    return [AttachedFileOut.model_validate(r) for r in rows]


@router.get("/api/archive/{sha256}")
async def describe(request: Request, principal: CurrentPrincipal, sha256: Sha256) -> ArchiveFileOut:
    row: dict[str, Any] = await in_worker(request, service.describe, principal, sha256, client_of(request))
    return ArchiveFileOut.model_validate(row)


@router.get("/api/archive/{sha256}/pages/{page}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
async def page(request: Request, principal: CurrentPrincipal, sha256: Sha256, page: int,
               size: Annotated[Literal["page", "thumb"], Query()] = "page") -> Response:
    archive = archive_of(request)
    async with slots_of(request).waiting(user_key(principal), limit_of(request), archive.settings.render_wait_seconds):
        client = client_of(request)  # no connection is held while the page renders
        row = await in_worker(request, service.page_row, principal, sha256, page, size, client)
        png = await anyio.to_thread.run_sync(service.render_page_png, archive, row, page, size)
        await in_worker(request, service.audit_page_view, principal, sha256, page, size, client)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})


@router.get("/api/archive/{sha256}/original", response_class=Response)
async def original(request: Request, principal: CurrentPrincipal, sha256: Sha256) -> Response:
    data, media_type = await in_worker(request, service.original, archive_of(request), principal, sha256,
                                       client_of(request))
    extension = {"application/pdf": "pdf", "image/tiff": "tif", "image/jpeg": "jpg", "image/png": "png"}[media_type]
    return Response(data, media_type=media_type, headers={
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="{sha256[:16]}.{extension}"'})
