"""Pages of the registry office: the queue by deadline, receiving and registering an
application, and the public statistics. Changes go through the JSON API (`static/js/registry.js`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal.platform.deps import PageUser, ReadConnection
from portal.platform.permissions import Action, Principal
from portal.platform.work import in_worker
from portal.registry import applications as apps
from portal.registry import statistics
from portal.registry.applications import KINDS
from portal.registry.errors import ApplicationNotFound
from portal.web.templating import render

__all__ = ["router"]

router = APIRouter(tags=["pages"], include_in_schema=False)




def _refused(request: Request, principal: Principal) -> Response | None:
    """The page that tells a signed-in person without a registry role that this is not for them."""
    if principal.may(Action.VIEW_APPLICATIONS):
        return None
    return render(request, "surveys/forbidden.html", status_code=403)


@router.get("/registry")
async def queue(request: Request, principal: PageUser) -> Response:
    if refused := _refused(request, principal):
        return refused
    rows = await in_worker(request, apps.queue, principal)
    return render(request, "registry/queue.html", {"applications": rows, "kinds": KINDS,
                                                   "court": principal.may(Action.REGISTER_SEIZURE)})


@router.get("/registry/applications/{application_id}")
async def application(request: Request, application_id: int, principal: PageUser) -> Response:
    if refused := _refused(request, principal):
        return refused
    try:
        found = await in_worker(request, apps.get, application_id, principal)
    except ApplicationNotFound:
        return render(request, "surveys/missing.html", {"submission_id": application_id}, status_code=404)
    own = await in_worker(request, apps.received_it, application_id, principal)
    return render(request, "registry/application.html", {"a": found, "own": own,
                                                         "may_act": principal.may(apps.required_action(found["kind"]))})


@router.get("/statistics")
async def office_statistics(request: Request, conn: ReadConnection) -> Response:
    rows = await statistics.monthly_from(conn, request.app.state.settings.portal.office_timezone)
    months = sorted({r["month"] for r in rows})
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], {})[row["month"]] = row
    peak = max((r["completed"] for r in rows), default=1)
    return render(request, "registry/statistics.html", {"months": months, "by_kind": by_kind, "peak": peak})
