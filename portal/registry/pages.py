"""Pages of the registry office: the queue by deadline, receiving and registering an
application, and the public statistics. Changes go through the JSON API (`static/js/registry.js`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal.platform.deps import PageUser, ReadConnection
from portal.platform.errors import Forbidden
from portal.platform.permissions import Action, Principal
from portal.platform.requests import client_of
from portal.platform.work import in_worker
from portal.registry import applications as apps
from portal.registry import statistics
from portal.registry.applications import KINDS
from portal.registry.schemas import application_for
from portal.web.templating import render

__all__ = ["router"]

router = APIRouter(tags=["pages"], include_in_schema=False)


def _staff_only(principal: Principal) -> None:
    """A signed-in person without a registry role gets the shared error page (403)."""
    if not principal.may(Action.VIEW_APPLICATIONS):
        raise Forbidden(f"your roles do not allow {Action.VIEW_APPLICATIONS.value}")


@router.get("/registry")
async def queue(request: Request, principal: PageUser) -> Response:
    _staff_only(principal)
    rows = await in_worker(request, apps.queue_seen, principal, client_of(request))  # the look is logged
    return render(request, "registry/queue.html", {"applications": [application_for(principal, r) for r in rows],
                                                   "kinds": KINDS,
                                                   "court": principal.may(Action.REGISTER_SEIZURE)})


@router.get("/registry/applications/{application_id}")
async def application(request: Request, application_id: int, principal: PageUser) -> Response:
    _staff_only(principal)
    # The page shows what the API would send this reader (the audience's schema), and the look is logged.
    found = await in_worker(request, apps.seen, application_id, principal, client_of(request))  # 404 page if none
    own = await in_worker(request, apps.received_it, application_id, principal)
    return render(request, "registry/application.html", {
        "a": application_for(principal, found), "own": own,
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
