"""Pages for surveyors and registrars over the submission API: upload, report, preview, review.

The pages only read; every change goes through the JSON API (`portal/surveys/api.py`)
from `static/js/surveys.js`, so the same permission checks and validation apply.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal.platform.deps import PageUser
from portal.platform.permissions import Action
from portal.platform.work import in_worker
from portal.surveys import workflow as submissions
from portal.surveys.samples import SAMPLES, sample
from portal.web.templating import render
from spatial.attributes import AREA_UNITS, DXF_TAGS, EXCHANGE_FIELDS, FIELD_NAMES, LAND_USE_LAYERS

__all__ = ["router"]

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/surveys")
async def surveys(request: Request, principal: PageUser) -> Response:
    if not principal.may(Action.UPLOAD_SURVEY_FILE):
        return render(request, "surveys/forbidden.html", status_code=403)
    rows = await in_worker(request, submissions.listing, principal)
    return render(request, "surveys/index.html", {"submissions": rows,
                                                  "reviewer": principal.may(Action.REVIEW_SUBMISSION)})


@router.get("/surveys/review")
async def review(request: Request, principal: PageUser) -> Response:
    if not principal.may(Action.REVIEW_SUBMISSION):
        return render(request, "surveys/forbidden.html", status_code=403)
    rows = await in_worker(request, submissions.listing, principal, status="submitted")
    return render(request, "surveys/review.html", {"submissions": rows})


@router.get("/surveys/formats")
async def formats(request: Request) -> Response:
    """Accepted formats, where each attribute is looked for (names and aliases), and templates.
    Public: it holds nothing but the rules of the readers."""
    return render(request, "surveys/formats.html", {
        "field_names": FIELD_NAMES, "dxf_tags": {k: sorted(v) for k, v in DXF_TAGS.items()},
        "land_use_layers": sorted(LAND_USE_LAYERS), "area_units": AREA_UNITS, "exchange_fields": EXCHANGE_FIELDS,
        "samples": {kind: name for kind, (name, _, _) in SAMPLES.items()}})


@router.get("/surveys/formats/{kind}")
async def template_file(request: Request, kind: str) -> Response:
    if kind not in SAMPLES:
        return render(request, "surveys/missing_template.html", {"kind": kind}, status_code=404)
    made = sample(kind)
    return Response(made.content, media_type=made.media_type,
                    headers={"content-disposition": f'attachment; filename="{made.name}"'})


@router.get("/surveys/{submission_id}")
async def detail(request: Request, submission_id: int, principal: PageUser, offset: int = 0) -> Response:
    """The submission with one page of its report (`offset`: the page's first issue)."""
    page = request.app.state.settings.survey.report_page_size
    try:
        found = await in_worker(request, submissions.get, submission_id, principal,
                                issues_offset=max(0, min(offset, 2**31)), issues_limit=page)
    except submissions.SubmissionNotFound:
        return render(request, "surveys/missing.html", {"submission_id": submission_id}, status_code=404)
    parcels = {p["position"]: p for p in found["parcels"]}
    return render(request, "surveys/detail.html", {
        "s": found, "issues": found["report"]["issues"], "parcels": parcels,
        "can_submit": found["status"] == "draft" and found["created_by"] == principal.user_id,
        "can_review": found["status"] == "submitted" and principal.may(Action.REVIEW_SUBMISSION)})
