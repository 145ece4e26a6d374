"""The site's navigation, per role: each person sees the pages they can use, and no link that
would only answer "forbidden" (a citizen sees no survey uploads, an auditor finds the audit log).

`navigation(principal)` gives the links in order as `(href, catalog key)`; the layout marks the
current page with `aria-current="page"`. Who may do what is `portal.platform.permissions`: a link
appears exactly when its page's action is allowed.
"""

from __future__ import annotations

from portal.platform.permissions import Action, Principal, Role

__all__ = ["navigation", "current_link"]

# Pages open to everyone, then the staff pages, each behind the action its page requires.
PUBLIC = (("/", "nav.map"), ("/guide", "nav.guide"), ("/check", "nav.check"), ("/statistics", "nav.statistics"))
STAFF: tuple[tuple[str, str, Action], ...] = (
    ("/surveys", "nav.surveys", Action.UPLOAD_SURVEY_FILE),
    ("/surveys/review", "nav.review", Action.REVIEW_SUBMISSION),
    ("/registry", "nav.registry", Action.VIEW_APPLICATIONS),
    ("/counter", "nav.counter", Action.VERIFY_IDENTITY_AT_COUNTER),
    ("/audit", "nav.audit", Action.READ_AUDIT),
    ("/admin/users", "nav.users", Action.MANAGE_USERS),
)


def navigation(principal: Principal | None) -> list[tuple[str, str]]:
    """The links `principal` (None: a stranger) finds in the header, in order: the public pages,
    then their own (a court clerk's registry link reads "seizures": the queue is theirs)."""
    links = list(PUBLIC)
    if principal is None or not principal.authenticated:
        return links
    for href, key, action in STAFF:
        if principal.may(action):
            clerk_only = href == "/registry" and principal.roles & {Role.REGISTRAR, Role.AUDITOR} == set()
            links.append((href, "nav.seizures" if clerk_only else key))
    return links


def current_link(path: str, links: list[tuple[str, str]]) -> str | None:
    """The href of the link the page at `path` belongs to (the longest that prefixes it)."""
    matches = [href for href, _ in links if path == href or (href != "/" and path.startswith(href + "/"))]
    return max(matches, key=len, default=None)
