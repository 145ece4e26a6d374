"""Office time: the one time zone every time a person reads is shown in, and dates are cut in.

The zone is a setting (`PortalSettings.office_timezone`, an IANA name, Asia/Shanghai by default,
validated there) and this module is the one place that turns it into a zone. SQL takes the
zone's name as a bound parameter (`AT TIME ZONE %s`), never a literal.

The database's own rules were written for Asia/Shanghai and keep it: daily request limits reset
and restriction-check references are dated at +08:00 (migrations 0003 and 0007), and
`add_working_days` / `working_days_between` default to 'Asia/Shanghai' (migration 0004).
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo

from portal.settings import DEFAULT_OFFICE_TIMEZONE

__all__ = ["DEFAULT_OFFICE_TIMEZONE", "LIMITS_TIMEZONE", "office_zone", "office_now"]

# The zone the database's request-limit windows are cut in (date_bin from 2000-01-01 00:00+08,
# migration 0003): a day's limit resets at that midnight whatever the office setting says.
LIMITS_TIMEZONE = DEFAULT_OFFICE_TIMEZONE


@cache
def office_zone(name: str = DEFAULT_OFFICE_TIMEZONE) -> dt.tzinfo:
    """The zone of that name (`settings.portal.office_timezone`), built once."""
    return ZoneInfo(name)


def office_now(name: str = DEFAULT_OFFICE_TIMEZONE) -> dt.datetime:
    """Now, on the office's clock."""
    return dt.datetime.now(office_zone(name))
