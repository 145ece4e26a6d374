"""HTTP API of the submission workflow: upload, report, preview, submit, approve, reject.

Who may call what is decided by `portal.platform.permissions` alone; the workflow itself lives in
`portal.surveys.workflow` and knows nothing of HTTP. Uploads are read and validated in a worker
thread, so a large drawing never stalls the event loop.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Request,
    UploadFile,
    status,
)
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from portal.platform.permissions import Action, Principal, require
from portal.platform.work import in_worker
from portal.surveys import workflow as submissions
from spatial.errors import CrsError, LimitError, SpatialError, UnsupportedFormatError

__all__ = ["router", "EXCEPTION_HANDLERS"]

router = APIRouter(prefix="/api/submissions", tags=["submissions"])

Uploader = Annotated[Principal, Depends(require(Action.UPLOAD_SURVEY))]
Submitter = Annotated[Principal, Depends(require(Action.SUBMIT_SURVEY))]
Reviewer = Annotated[Principal, Depends(require(Action.REVIEW_SUBMISSION))]
Purpose = Literal["new", "split", "merge", "boundary_adjustment"]
Status = Literal["draft", "submitted", "approved", "rejected", "withdrawn"]


class Rejection(BaseModel):
    reasons: list[str] = Field(min_length=1, description="what the surveyor must correct")




def _crs(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    text = value.strip().upper().removeprefix("EPSG:")
    if not text.isdigit():
        raise HTTPException(422,
                            {"message": f"crs {value!r} is not an EPSG code such as EPSG:4528", "field": "crs"})
    return int(text)


class _Reading:
    """Uploads being read per user in this app process, so one user cannot hold every worker."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_user: Counter[str] = Counter()

    @contextmanager
    def slot(self, user: str, limit: int) -> Iterator[None]:
        with self.lock:
            if self.by_user[user] >= limit:
                raise HTTPException(429, {"code": "uploads_at_once", "message": (
                    f"{limit} of your uploads are being read already (uploads at once per user); wait for them "
                    "to finish, then upload again")})
            self.by_user[user] += 1
        try:
            yield
        finally:
            with self.lock:
                self.by_user[user] -= 1


_reading_lock = threading.Lock()


def _reading(request: Request) -> _Reading:
    with _reading_lock:
        reading = getattr(request.app.state, "surveys_reading", None)
        if reading is None:
            reading = request.app.state.surveys_reading = _Reading()
        return reading


@router.post("", status_code=status.HTTP_201_CREATED)
async def upload(request: Request, principal: Uploader,
                 file: Annotated[UploadFile, File(description="exchange .txt, DXF, GeoJSON, zipped Shapefile, "
                                                             "GeoPackage or GML")],
                 crs: Annotated[str | None, Form(description="EPSG code when the file does not say")] = None,
                 purpose: Annotated[Purpose, Form()] = "new",
                 retires: Annotated[str, Form(description="parcel codes a split, merge or adjustment "
                                                          "retires, separated by spaces or commas")] = "",
                 description: Annotated[str | None, Form()] = None) -> dict[str, Any]:
    """Read and validate a surveyor's file and keep it as a draft with its report."""
    settings = request.app.state.settings.survey
    content = await file.read(settings.max_upload_bytes + 1)
    up = submissions.Upload(file.filename or "upload", content, _crs(crs), purpose,
                            retires.replace(",", " ").split(), description)
    with _reading(request).slot(str(principal.user_id or principal.label), settings.uploads_at_once_per_user):
        submission_id = await in_worker(request, submissions.create, up, principal, settings)
    return await in_worker(request, submissions.get, submission_id, principal)


@router.get("")
async def listing(request: Request, principal: Uploader, status: Status | None = None) -> list[dict[str, Any]]:
    """The caller's submissions; for registrars, every submission (filter status=submitted for the queue)."""
    return await in_worker(request, submissions.listing, principal, status=status)


@router.get("/{submission_id}")
async def detail(request: Request, submission_id: int, principal: Uploader) -> dict[str, Any]:
    return await in_worker(request, submissions.get, submission_id, principal)


@router.get("/{submission_id}/report")
async def report(request: Request, submission_id: int, principal: Uploader) -> dict[str, Any]:
    """The validation report: every error and warning with its parcel, place in the file and location."""
    found = await in_worker(request, submissions.get, submission_id, principal)
    validation: dict[str, Any] = found["report"]
    return validation


@router.get("/{submission_id}/preview", response_class=JSONResponse,
            responses={200: {"content": {"application/geo+json": {}}}})
async def preview(request: Request, submission_id: int, principal: Uploader) -> JSONResponse:
    """GeoJSON for a map: uploaded parcels, retired parcels, the cadastre around them, and faults."""
    collection = await in_worker(request, submissions.preview, submission_id, principal)
    return JSONResponse(collection, media_type="application/geo+json")


@router.post("/{submission_id}/submit")
async def submit(request: Request, submission_id: int, principal: Submitter) -> dict[str, Any]:
    await in_worker(request, submissions.submit, submission_id, principal, request.app.state.settings.survey)
    return await in_worker(request, submissions.get, submission_id, principal)


@router.post("/{submission_id}/withdraw")
async def withdraw(request: Request, submission_id: int, principal: Submitter) -> dict[str, Any]:
    await in_worker(request, submissions.withdraw, submission_id, principal)
    return await in_worker(request, submissions.get, submission_id, principal, with_report=False)


@router.post("/{submission_id}/approve")
async def approve(request: Request, submission_id: int, principal: Reviewer) -> dict[str, Any]:
    """Publish the submission into the cadastre (validated again under the publication lock)."""
    publication = await in_worker(request, submissions.approve, submission_id, principal,
                              request.app.state.settings.survey)
    found = await in_worker(request, submissions.get, submission_id, principal, with_report=False)
    found["published"] = {"parcel_codes": publication.parcel_codes, "retired_parcel_ids": publication.retired_ids,
                          "lineage": publication.lineage, "bounds": publication.bounds}
    return found


@router.post("/{submission_id}/reject")
async def reject(request: Request, submission_id: int, rejection: Rejection, principal: Reviewer) -> dict[str, Any]:
    await in_worker(request, submissions.reject, submission_id, principal, rejection.reasons)
    return await in_worker(request, submissions.get, submission_id, principal, with_report=False)


def _error_code(exc: SpatialError) -> str:
    """A stable code beside the English message, for translations and clients."""
    for kind, code in ((LimitError, "upload_limit"), (UnsupportedFormatError, "unsupported_format"),
                       (CrsError, "crs_error")):
        if isinstance(exc, kind):
            return code
    return "read_error"


def _spatial_error(request: Request, exc: Exception) -> JSONResponse:
    """A file that cannot be read: 422, or 413 when it exceeds a limit (size, unpacked bytes,
    features, read time or memory); the message names the limit."""
    assert isinstance(exc, SpatialError)
    return JSONResponse(status_code=413 if isinstance(exc, LimitError) else 422, content={"detail": {
        "code": _error_code(exc), "message": str(exc), "problem": exc.message, "file": exc.file, "line": exc.line,
        "feature": exc.feature, "field": exc.field}})


def _workflow_error(request: Request, exc: Exception) -> JSONResponse:
    statuses: dict[type[Exception], int] = {submissions.SubmissionNotFound: 404, submissions.SubmissionRefused: 403}
    code = statuses.get(type(exc), 409)
    body: dict[str, Any] = {"detail": {"message": str(exc)}}
    report = getattr(exc, "report", None)
    if report is not None:
        body["detail"]["report"] = report.to_dict()
    return JSONResponse(status_code=code, content=body)


EXCEPTION_HANDLERS = {SpatialError: _spatial_error, submissions.SubmissionError: _workflow_error}
