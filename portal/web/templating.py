"""The Jinja2 environment and `render()`, which gives every template its language and `_()`.

Filters, one for each kind of value a page shows, all in the page's language (`lang`):

- `when`: a moment on the office's clock (`settings.portal.office_timezone`), one format per
  language (2026年12月6日 18:30 / 6 Dec 2026 18:30); `when(zone=True)` adds the zone
  (北京时间 / UTC+8) where a reader could wonder (certificates, sheets, audit).
- `day`: a date alone (2026年12月6日 / 6 Dec 2026); `month`: 2026年12月 / Dec 2026.
- `money`: an amount of yuan (1,400,000.00 元 / ¥1,400,000.00); `number`: a decimal number.
- `label(kind, value)`: the name of an enumerated value (`portal.web.messages.label`).
- `message(code)`: a server message (an issue's, an error's) in the page's language, and
  `place`: where in a file; `words`: a short stored value (an audit subject `user:3`, a table
  name); `roles`: stored roles (`registrar,auditor`) named for people.
Babel does the formatting (CLDR), not hand-written patterns.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from portal.platform.clock import office_zone
from portal.platform.requests import NEXT_MAX_CHARS, here_of, next_query
from portal.settings import PortalSettings, Settings
from portal.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, language_of, translator
from portal.web.messages import (
    babel_locale,
    district,
    label,
    labels_of,
    localize_issue,
    localize_place,
    localize_roles,
    localize_value,
)
from portal.web.navigation import current_link, navigation

__all__ = ["templates_for", "render", "when", "day", "month", "money", "number", "zone_label"]

_TEMPLATES = Path(__file__).parent / "templates"
_DEFAULT_TITLE = PortalSettings.model_fields["title"].default
_MOMENT = {"zh-CN": "y年M月d日 HH:mm", "en": "d MMM y HH:mm"}
_SECONDS = {"zh-CN": "y年M月d日 HH:mm:ss", "en": "d MMM y HH:mm:ss"}
_DAY = {"zh-CN": "y年M月d日", "en": "d MMM y"}
_MONTH = {"zh-CN": "y年M月", "en": "MMM y"}


def templates_for(settings: Settings, extra_dirs: tuple[Path, ...] = ()) -> Jinja2Templates:
    templates = Jinja2Templates(directory=[_TEMPLATES, *extra_dirs])
    zone = office_zone(settings.portal.office_timezone)
    env = templates.env
    env.globals["site_title"] = settings.portal.title
    env.globals["languages"] = LANGUAGES
    env.globals["next_query"] = next_query  # every `next=` of a link (portal.platform.requests)
    env.globals["here_of"] = here_of
    env.globals["next_max_chars"] = NEXT_MAX_CHARS  # the language switch's script keeps to it too
    env.filters["when"] = pass_context(partial(_when_filter, office=zone))
    env.filters["day"] = pass_context(lambda ctx, value: day(value, _lang(ctx), zone))
    env.filters["month"] = pass_context(lambda ctx, value: month(value, _lang(ctx)))
    env.filters["money"] = pass_context(lambda ctx, value: money(value, _lang(ctx)))
    env.filters["number"] = pass_context(lambda ctx, value, places=2: number(value, _lang(ctx), places))
    env.filters["label"] = pass_context(lambda ctx, value, kind: label(kind, value, _lang(ctx)))
    env.globals["label"] = pass_context(lambda ctx, kind, value: label(kind, value, _lang(ctx)))
    env.globals["labels_of"] = pass_context(lambda ctx, *kinds: {k: labels_of(k, _lang(ctx)) for k in kinds})
    env.globals["district"] = pass_context(lambda ctx, area: district(area.code, area.name, _lang(ctx)))
    env.filters["message"] = pass_context(lambda ctx, text, code="generic": localize_issue(code, text, _lang(ctx)))
    env.filters["place"] = pass_context(lambda ctx, text: localize_place(text, _lang(ctx)))
    env.filters["words"] = pass_context(lambda ctx, text: localize_value(text, _lang(ctx)))
    env.filters["roles"] = pass_context(lambda ctx, roles: localize_roles(roles, _lang(ctx)))
    env.globals["zone_label"] = pass_context(lambda ctx: zone_label(zone, _lang(ctx)))
    env.globals["navigation"] = navigation
    env.globals["current_link"] = current_link
    return templates


def _lang(ctx: Context) -> str:
    language = ctx.get("lang")
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def _when_filter(ctx: Context, moment: dt.datetime | str | None, pattern: str | None = None, *,
                 zone: bool = False, seconds: bool = False, office: dt.tzinfo) -> str:
    if pattern is not None:  # a date pattern asked for: the day alone
        return day(moment, _lang(ctx), office)
    return when(moment, _lang(ctx), office, zone=zone, seconds=seconds)


def when(moment: dt.datetime | str | None, language: str, office: dt.tzinfo, *, zone: bool = False,
         seconds: bool = False) -> str:
    """A moment as the office's clock shows it, whatever the server's zone: `2026年12月6日 18:30`
    (zh-CN) or `6 Dec 2026 18:30` (en), ` 北京时间`/` UTC+8` appended when `zone`. A naive
    datetime is taken as UTC (what the database's `timestamptz` never gives); an ISO 8601
    string is parsed first; None gives ""."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    if not isinstance(moment, dt.datetime):  # a date: no clock to convert
        return day(moment, language, office)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(office)
    text = format_datetime(local, (_SECONDS if seconds else _MOMENT)[language], locale=babel_locale(language))
    return f"{text} {zone_label(office, language, local)}" if zone else text


def day(value: dt.date | dt.datetime | str | None, language: str, office: dt.tzinfo) -> str:
    """A date: `2026年12月6日` or `6 Dec 2026` (a datetime: its day on the office's clock)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        value = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(office).date()
    return format_date(value, _DAY[language], locale=babel_locale(language))


def month(value: str | dt.date | None, language: str) -> str:
    """A month (`2026-01` or a date): `2026年1月` or `Jan 2026`."""
    if not value:
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:7] + "-01")
    return format_date(value, _MONTH[language], locale=babel_locale(language))


def zone_label(office: dt.tzinfo, language: str, at: dt.datetime | None = None) -> str:
    """The office's zone for people: 北京时间 in Chinese when it is UTC+8, else `UTC+8` (the
    offset at `at`, default now)."""
    offset = (at or dt.datetime.now(office)).astimezone(office).utcoffset() or dt.timedelta()
    minutes = int(offset.total_seconds() // 60)
    hours, rest = divmod(abs(minutes), 60)
    text = f"UTC{'+' if minutes >= 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "")
    return "北京时间" if language == "zh-CN" and minutes == 480 else text


def number(value: Decimal | float | int | str | None, language: str, places: int = 2) -> str:
    """A decimal number with the language's grouping: 1,400,000.00."""
    if value is None or value == "":
        return ""
    return format_decimal(Decimal(str(value)), format="#,##0." + "0" * places if places else "#,##0",
                          locale=babel_locale(language))


def money(value: Decimal | float | int | str | None, language: str) -> str:
    """An amount of yuan (人民币): `1,400,000.00 元` in Chinese, `¥1,400,000.00` in English."""
    if value is None or value == "":
        return ""
    amount = number(value, language, 2)
    return f"{amount} 元" if language == "zh-CN" else f"¥{amount}"


def render(request: Request, name: str, context: dict[str, Any] | None = None,
           status_code: int = 200) -> HTMLResponse:
    language = language_of(request)
    _ = translator(language)
    values = {"lang": language, "_": _, **(context or {})}
    templates: Jinja2Templates = request.app.state.templates
    if templates.env.globals.get("site_title") == _DEFAULT_TITLE:  # the default name, in the page's language
        values.setdefault("site_title", _("site.title"))
    principal = getattr(request.state, "principal", None)
    values.setdefault("principal", principal)
    values.setdefault("csp_nonce", getattr(request.state, "csp_nonce", ""))
    if getattr(principal, "via", None) == "cookie":  # scripts send it back in X-CSRF-Token
        values.setdefault("csrf_token", getattr(principal, "csrf_token", None))
    return templates.TemplateResponse(request, name, values, status_code=status_code)
