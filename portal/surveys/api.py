"""HTTP API of the submission workflow: upload, report, preview, submit, approve, reject.

Who may call what is decided by `portal.platform.permissions` alone; the workflow itself lives in
`portal.surveys.workflow` and knows nothing of HTTP. An upload is read in a sandboxed worker
process with no database connection held (`workflow.read_upload`), then validated against the
cadastre and stored in one short unit of work (`workflow.store`), so slow uploads never take
the connections other people's requests need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
    status,
)
from fastapi.responses import JSONResponse
from psycopg import Connection
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from portal.platform.errors import BadInput
from portal.platform.permissions import Action, Principal, require
from portal.platform.slots import Slots, slots_of
from portal.platform.work import in_worker
from portal.surveys import workflow as submissions
from portal.surveys.schemas import ApprovedOut, PublishedOut, ReportOut, SubmissionOut, SubmissionSummary
from portal.web.i18n import language_of
from portal.web.messages import localize_issue

__all__ = ["router"]

router = APIRouter(prefix="/api/submissions", tags=["submissions"])

Uploader = Annotated[Principal, Depends(require(Action.UPLOAD_SURVEY_FILE))]
Submitter = Annotated[Principal, Depends(require(Action.SUBMIT_SUBMISSION))]
Reviewer = Annotated[Principal, Depends(require(Action.REVIEW_SUBMISSION))]
Purpose = Literal["new", "split", "merge", "boundary_adjustment"]
Status = Literal["draft", "submitted", "approved", "rejected", "withdrawn"]


class Rejection(BaseModel):
    reasons: list[str] = Field(min_length=1, description="what the surveyor must correct")




def _crs(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    text = value.strip().upper().removeprefix("EPSG:")
    if not (text.isascii() and text.isdigit()):  # "²" and other scripts' digits pass isdigit()
        raise HTTPException(422,
                            {"message": f"crs {value!r} is not an EPSG code such as EPSG:4528", "field": "crs"})
    return int(text)


def _then_get(conn: Connection[Any], step: Callable[..., Any], submission_id: int, principal: Principal,
              *args: Any, with_report: bool = True,
              issues_limit: int = submissions.REPORT_PAGE) -> tuple[Any, dict[str, Any]]:
    """A workflow step, then the submission as it now stands (the first page of its report), on
    one connection in one worker hop."""
    done = step(conn, submission_id, principal, *args)
    return done, submissions.get(conn, submission_id, principal, with_report=with_report, issues_limit=issues_limit)


_Reading = Slots  # the per-user limiter, shared with the archive and digitising (portal.platform.slots)


def _reading(request: Request) -> Slots:
    return slots_of(request)


_Out = TypeVar("_Out", SubmissionOut, ReportOut)


def _localized(request: Request, out: _Out) -> _Out:
    """`out` with each issue of its report's page also in the request's language
    (`localized_message`), as every answer that carries a report gives it."""
    report = out if isinstance(out, ReportOut) else out.report
    if report is not None:
        language = language_of(request)
        for issue in report.issues:
            issue.localized_message = localize_issue(issue.code, issue.message, language)
    return out


@router.post("", status_code=status.HTTP_201_CREATED)
async def upload(request: Request, principal: Uploader,
                 file: Annotated[UploadFile, File(description="exchange .txt, DXF, GeoJSON, zipped Shapefile, "
                                                             "GeoPackage or GML")],
                 crs: Annotated[str | None, Form(description="EPSG code when the file does not say")] = None,
                 purpose: Annotated[Purpose, Form()] = "new",
                 retires: Annotated[str, Form(description="parcel codes a split, merge or adjustment "
                                                          "retires, separated by spaces or commas")] = "",
                 description: Annotated[str | None, Form()] = None) -> SubmissionOut:
    """Read and validate a surveyor's file and keep it as a draft with its report."""
    settings = request.app.state.settings.survey
    content = await file.read(settings.max_upload_bytes + 1)
    up = submissions.Upload(file.filename or "upload", content, _crs(crs), purpose,
                            retires.replace(",", " ").split(), description)

    with _reading(request).slot(str(principal.user_id or principal.label), settings.uploads_at_once_per_user):
        read = await run_in_threadpool(submissions.read_upload, up, settings)  # no connection held

        def store_then_get(conn: Connection[Any]) -> dict[str, Any]:
            return submissions.get(conn, submissions.store(conn, read, principal, settings), principal,
                                   issues_limit=settings.report_page_size)

        return _localized(request, SubmissionOut.model_validate(await in_worker(request, store_then_get)))


@router.get("")
async def listing(request: Request, principal: Uploader, status: Status | None = None) -> list[SubmissionSummary]:
    """The caller's submissions; for registrars, every submission (filter status=submitted for the queue)."""
    rows = await in_worker(request, submissions.listing, principal, status=status)
    return [SubmissionSummary.model_validate(row) for row in rows]


@router.get("/{submission_id}")
async def detail(request: Request, submission_id: int, principal: Uploader) -> SubmissionOut:
    """The submission, its parcels and the first page of its report (the rest: .../report?offset=)."""
    return _localized(request, SubmissionOut.model_validate(await in_worker(
        request, submissions.get, submission_id, principal,
        issues_limit=request.app.state.settings.survey.report_page_size)))


@router.get("/{submission_id}/report")
async def report(request: Request, submission_id: int, principal: Uploader,
                 offset: Annotated[int, Query(ge=0, le=2**31, description="first issue (0-based)")] = 0,
                 limit: Annotated[int | None, Query(ge=1, le=2**31, description="issues in the page; "
                                                    "default SurveySettings.report_page_size")] = None) -> ReportOut:
    """The validation report, a page at a time: every error and warning with its parcel, place in
    the file and location, issues [offset, offset + limit) of `issues_total`, in file order; each
    issue's message also in the request's language (`localized_message`)."""
    settings = request.app.state.settings.survey
    if limit is not None and limit > settings.report_max_page_size:
        raise BadInput(f"limit: at most {settings.report_max_page_size} issues a page")
    found = await in_worker(request, submissions.get, submission_id, principal, issues_offset=offset,
                            issues_limit=limit or settings.report_page_size)
    return _localized(request, ReportOut.model_validate(found["report"]))


@router.get("/{submission_id}/preview", response_class=JSONResponse,
            responses={200: {"content": {"application/geo+json": {}}}})
async def preview(request: Request, submission_id: int, principal: Uploader) -> JSONResponse:
    """GeoJSON for a map: uploaded parcels, retired parcels, the cadastre around them, and faults."""
    collection = await in_worker(request, submissions.preview, submission_id, principal)
    language = language_of(request)
    for feature in collection.get("features", ()):  # a fault's message in the reader's language too
        properties = feature.get("properties") or {}
        if properties.get("message") and properties.get("code"):
            properties["localized_message"] = localize_issue(properties["code"], properties["message"], language)
    return JSONResponse(collection, media_type="application/geo+json")


@router.post("/{submission_id}/submit")
async def submit(request: Request, submission_id: int, principal: Submitter) -> SubmissionOut:
    settings = request.app.state.settings.survey
    _, found = await in_worker(request, _then_get, submissions.submit, submission_id, principal, settings,
                               issues_limit=settings.report_page_size)
    return _localized(request, SubmissionOut.model_validate(found))


# After a decision the report and parcels are not read back, and so not sent (exclude_unset).
@router.post("/{submission_id}/withdraw", response_model_exclude_unset=True)
async def withdraw(request: Request, submission_id: int, principal: Submitter) -> SubmissionOut:
    _, found = await in_worker(request, _then_get, submissions.withdraw, submission_id, principal, with_report=False)
    return SubmissionOut.model_validate(found)


@router.post("/{submission_id}/approve", response_model_exclude_unset=True)
async def approve(request: Request, submission_id: int, principal: Reviewer) -> ApprovedOut:
    """Publish the submission into the cadastre (validated again under the publication lock)."""
    publication, found = await in_worker(request, _then_get, submissions.approve, submission_id, principal,
                                         request.app.state.settings.survey, with_report=False)
    published = PublishedOut(parcel_codes=publication.parcel_codes, retired_parcel_ids=publication.retired_ids,
                             lineage=publication.lineage, bounds=publication.bounds)
    return ApprovedOut.model_validate({**found, "published": published})


@router.post("/{submission_id}/reject", response_model_exclude_unset=True)
async def reject(request: Request, submission_id: int, rejection: Rejection, principal: Reviewer) -> SubmissionOut:
    _, found = await in_worker(request, _then_get, submissions.reject, submission_id, principal, rejection.reasons,
                               with_report=False)
    return SubmissionOut.model_validate(found)
