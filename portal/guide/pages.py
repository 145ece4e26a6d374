"""/guide (the public registration guide) and /guide/edit (staff: administrators, registrars)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from portal.guide import store
from portal.guide.model import GuideEntry, GuideError, load_guide, parse_guide, replace_guide
from portal.platform.deps import Connection, CurrentPrincipal
from portal.platform.permissions import Action, Principal, require
from portal.web.templating import render

__all__ = ["router", "entries_from_form"]

router = APIRouter(tags=["pages"])

_FIELDS = ("kind", "position", "title_zh", "title_en", "summary_zh", "summary_en", "steps_zh",
           "steps_en", "documents_zh", "documents_en", "fees_zh", "fees_en", "time_limit_days")
_LINES = {"steps_zh", "steps_en", "documents_zh", "documents_en"}
EditGuide = Annotated[Principal, Depends(require(Action.EDIT_GUIDE))]


@router.get("/guide", response_class=HTMLResponse, include_in_schema=False)
async def guide_page(request: Request, principal: CurrentPrincipal, conn: Connection) -> HTMLResponse:
    entries = await load_guide(conn)
    updated = await store.last_update(conn)
    return render(request, "guide.html", {"entries": entries, "updated": updated,
                                         "can_edit": principal.may(Action.EDIT_GUIDE)})


def _as_form(entries: list[GuideEntry] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        values = entry.model_dump() if isinstance(entry, GuideEntry) else dict(entry)
        rows.append({k: "\n".join(v) if isinstance(v, list) else ("" if v is None else v)
                     for k, v in values.items()})
    return rows


def entries_from_form(form: dict[str, str]) -> list[dict[str, Any]]:
    """Form fields e<N>.<field> (lists one item per line) to entries; blank new rows are skipped,
    rows ticked for removal are dropped."""
    indexes = sorted({int(key[1:].split(".", 1)[0]) for key in form
                      if key.startswith("e") and "." in key and key[1:].split(".", 1)[0].isdigit()})
    entries = []
    for i in indexes:
        values: dict[str, str | list[str]] = {field: form.get(f"e{i}.{field}", "") for field in _FIELDS}
        if form.get(f"e{i}.remove") or not any(str(v).strip() for v in values.values()):
            continue
        for field in _LINES:
            lines = str(values[field]).splitlines()
            values[field] = [line.strip() for line in lines if line.strip()]
        entries.append(values)
    return entries


@router.get("/guide/edit", response_class=HTMLResponse, include_in_schema=False)
async def guide_edit(request: Request, principal: EditGuide, conn: Connection) -> HTMLResponse:
    entries = await load_guide(conn)
    return render(request, "guide_edit.html", {"rows": _as_form(entries), "error": None})


@router.post("/guide/edit", include_in_schema=False)
async def guide_save(request: Request, principal: EditGuide) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    submitted = entries_from_form(form)
    try:
        entries = parse_guide(submitted)
    except GuideError as error:
        context = {"rows": _as_form(submitted), "error": str(error)}
        return render(request, "guide_edit.html", context, status_code=422)
    async with request.app.state.pool.connection() as conn:
        await replace_guide(conn, entries, editor=principal.display_name)
    return RedirectResponse("/guide?saved=1", status_code=303)
