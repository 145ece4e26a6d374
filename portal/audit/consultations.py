"""Looks at personal data (查询留痕): one audit row "consulted" per response that carries any.

Applications, unit records, user lists and other people's checks are personal data whoever
reads them, registrars included. A response writes ONE row, in the transaction of its read when
it has one, naming the subjects it showed (`detail.subjects`: unit numbers, application
references, user ids) and the view the reader got (`detail.view`: "registry", "court",
"summary"...), so a reader cannot see a record without a trace, and a list costs no more than
one insert::

    record(conn, consultation(principal, "application_view", ["330102...W00000000"],
                              client=client_of(request), reference="2026-0000012", view="court"))
"""

from __future__ import annotations

from collections.abc import Sequence

from portal.audit.trail import AuditEntry
from portal.platform.permissions import Principal, role_label

__all__ = ["consultation"]


def consultation(principal: Principal, action: str, subjects: Sequence[str], *, client: str | None,
                 reference: str | None = None, view: str | None = None) -> AuditEntry:
    """The audit row of one response that showed `subjects` to `principal`.

    `subject` holds the one subject when there is one (so the trail's subject search finds it);
    every subject is listed in `detail.subjects`. `action` names the response, e.g.
    ``application_view``, ``application_queue``, ``unit_record``, ``user_list``, ``check_view``.
    """
    listed = [str(s) for s in subjects]
    detail: dict[str, object] = {"subjects": listed, "count": len(listed)}
    if view is not None:
        detail["view"] = view
    return AuditEntry(action, access="consulted", actor_user_id=principal.user_id, actor_role=role_label(principal),
                      actor_institution=principal.institution, subject=listed[0] if len(listed) == 1 else None,
                      reference=reference, client=client, detail=detail)
