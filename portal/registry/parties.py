"""The parties an application names: an existing party by id, or one found or recorded by its
identity document (checked with the national rules before anything is written).

The register keeps no identity number in clear: a party is found by the keyed digest of its
document and recorded with digest, masked form and sealed number (`security.party_identity`)."""

from __future__ import annotations

import base64
import binascii
import unicodedata
from dataclasses import dataclass
from functools import partial
from typing import Any

import psycopg

from portal.accounts.guards import seconds_to_window_end
from portal.accounts.identity_numbers import credit_code_problem, resident_id_problem
from portal.accounts.security import (
    SEAL_KEY_FILE,
    IdentityKeys,
    SealBroken,
    identity_keys,
    party_identity,
    unseal_identity,
)
from portal.audit.trail import AuditEntry, record
from portal.platform.errors import Limited
from portal.platform.permissions import Principal, role_label
from portal.platform.rows import one_row
from portal.platform.work import UnitOfWork
from portal.registry import queries
from portal.registry.errors import ApplicationConflict, ApplicationInvalid, PartyNotFound

__all__ = ["resolve_party", "reveal_identity_number", "sealed_request", "opened_request", "REVEALED", "FLAGGED",
           "LIMITED", "RevealLimits", "purpose_problem"]

# The audit action of a registrar's look at a full identity number.
REVEALED = "identity_number_revealed"

KINDS = {"resident_id": "natural_person", "passport": "natural_person", "hk_macao_permit": "natural_person",
         "taiwan_permit": "natural_person", "unified_social_credit_code": "legal_person",
         "other": "natural_person"}


# The keys of an application's request that name parties (a list of holders, or one party).
_PARTY_KEYS = ("holders", "mortgagee", "party")


def _sealed_party(given: Any, keys: IdentityKeys) -> Any:
    if not isinstance(given, dict) or given.get("id_document_number") in (None, ""):
        return given
    doc_type = str(given.get("id_document_type") or "resident_id")
    identity = party_identity(keys, doc_type, str(given["id_document_number"]))
    kept = {k: v for k, v in given.items() if k not in ("id_document_number", "id_document_sealed")}
    return {**kept, "id_document_type": doc_type, "id_document_masked": identity.masked,
            "id_document_digest": identity.digest.hex(),
            "id_document_sealed": base64.b64encode(identity.sealed).decode("ascii")}


def sealed_request(request: dict[str, Any], keys: IdentityKeys | None = None) -> dict[str, Any]:
    """An application's request as it is stored (`applications.request`): every party given by
    its identity document keeps the masked form, the digest (hex) and the sealed number (base64)
    instead of the number, so the applications table holds no identity number either.
    `resolve_party` opens the sealed number at registration."""
    keys = keys or identity_keys()
    stored = dict(request)
    for key in _PARTY_KEYS:
        if isinstance(stored.get(key), list):
            stored[key] = [_sealed_party(given, keys) for given in stored[key]]
        elif key in stored:
            stored[key] = _sealed_party(stored[key], keys)
    return stored


def opened_request(request: dict[str, Any], keys: IdentityKeys | None = None) -> dict[str, Any]:
    """`sealed_request` undone (migration 0021's downgrade): each sealed party's number in clear
    again. Raises SealBroken when a number does not open under `keys`."""
    keys = keys or identity_keys()

    def opened(given: Any) -> Any:
        if not isinstance(given, dict) or "id_document_sealed" not in given:
            return given
        number = unseal_identity(keys.seal, bytes.fromhex(str(given.get("id_document_digest") or "")),
                                 base64.b64decode(str(given["id_document_sealed"])))
        kept = {k: v for k, v in given.items()
                if k not in ("id_document_masked", "id_document_digest", "id_document_sealed")}
        return {**kept, "id_document_number": number}

    stored = dict(request)
    for key in _PARTY_KEYS:
        if isinstance(stored.get(key), list):
            stored[key] = [opened(given) for given in stored[key]]
        elif key in stored:
            stored[key] = opened(stored[key])
    return stored


def _opened_number(given: dict[str, Any], keys: IdentityKeys, field: str) -> str:
    """The number a stored request's party holds sealed (`sealed_request`)."""
    try:
        return unseal_identity(keys.seal, bytes.fromhex(str(given.get("id_document_digest") or "")),
                               base64.b64decode(str(given["id_document_sealed"]), validate=True))
    except (SealBroken, ValueError, binascii.Error):
        raise ApplicationInvalid(f"{field}: the sealed identity document number does not open with this "
                                 "installation's seal key", f"{field}.id_document_number") from None


def resolve_party(conn: psycopg.Connection, given: Any, field: str, keys: IdentityKeys | None = None) -> int:
    """The party_id of `given`: {"party_id": N} or {"name", "id_document_type", "id_document_number"}
    (or, in a stored request, the sealed number instead: `sealed_request`), found by the
    document's digest under `keys` (the environment's identity keys when not given).
    Raises ApplicationInvalid naming the field (never the number) when the document is malformed."""
    if not isinstance(given, dict):
        raise ApplicationInvalid(f"{field}: give a party as {{'party_id': N}} or with its identity document", field)
    keys = keys or identity_keys()
    if "party_id" in given:
        row = conn.execute(queries.PARTY_BY_ID, (given["party_id"],)).fetchone()
        if row is None:
            raise ApplicationInvalid(f"{field}: party {given['party_id']} is not in the register", field)
        return int(row[0])
    name = str(given.get("name") or "").strip()
    doc_type = str(given.get("id_document_type") or "resident_id")
    number = (_opened_number(given, keys, field) if "id_document_sealed" in given and "id_document_number" not in given
              else str(given.get("id_document_number") or "")).strip().upper()
    if not name:
        raise ApplicationInvalid(f"{field}: the party's name is missing", f"{field}.name")
    if doc_type not in KINDS:
        raise ApplicationInvalid(f"{field}: unknown identity document type {doc_type!r}", f"{field}.id_document_type")
    problem = (resident_id_problem(number) if doc_type == "resident_id" else
               credit_code_problem(number) if doc_type == "unified_social_credit_code" else
               None if number else "is missing")
    if problem:
        # The number itself is personal data: the message says what is wrong, never the number.
        raise ApplicationInvalid(f"{field}: identity document number {problem}", f"{field}.id_document_number")
    identity = party_identity(keys, doc_type, number)
    row = conn.execute(queries.PARTY_BY_DOCUMENT, (identity.digest,)).fetchone()
    if row is not None:
        if row[1] != name:
            raise ApplicationInvalid(f"{field}: the identity document belongs to a party registered under "
                                     "another name; correct the name or the document", f"{field}.name")
        return int(row[0])
    return int(one_row(conn.execute(
        queries.INSERT_PARTY, (KINDS[doc_type], name, doc_type, identity.digest, identity.masked,
                               identity.sealed)).fetchone())[0])


@dataclass(frozen=True)
class RevealLimits:
    """A registrar's reveals: at most `per_minute` and `per_day` (office day, as the checks'
    limits), and the auditors told when the day's count reaches `flagged_at`
    (settings `CADASTRE_ACCOUNTS_REVEALS_PER_MINUTE`, `_PER_DAY`, `_FLAGGED_AT`)."""

    per_minute: int = 10
    per_day: int = 100
    flagged_at: int = 30


# The audit actions of the limits: the auditors' flag (the day's count reached `flagged_at`)
# and the first refusal of a window (later refusals of the same window are not written again).
FLAGGED = "identity_reveals_many"
LIMITED = "identity_reveals_limited"

# Not allowed in a purpose: control, format (bidi overrides, zero-width), surrogate, private
# and unassigned characters, line and paragraph separators.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
PURPOSE_MIN_LETTERS = 2


# Letters that show as nothing (review 3, N3): the Hangul fillers, and modifier letters such as
# the Arabic tatweel (category Lm) stretch or pad text without saying anything.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def _is_letter(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category.startswith("L") and category != "Lm" and ch not in _BLANK_LETTERS


def purpose_problem(purpose: str) -> str | None:
    """What is wrong with a reveal's purpose (already stripped), or None: it must be words, at
    least PURPOSE_MIN_LETTERS letters or Chinese characters (Unicode category L*), with no
    control or invisible formatting characters (U+202E and the like would reorder the audit trail's text)."""
    if not purpose:
        return "say why the full identity number is needed (the purpose is audited)"
    if any(unicodedata.category(ch) in _UNPRINTABLE for ch in purpose):
        return "the purpose contains control or invisible formatting characters: write it in plain words"
    if sum(_is_letter(ch) for ch in purpose) < PURPOSE_MIN_LETTERS:
        return (f"say in words why the full identity number is needed: at least {PURPOSE_MIN_LETTERS} letters "
                "or Chinese characters (the purpose is audited)")
    return None


def _count_reveal(conn: psycopg.Connection, principal: Principal, client: str | None, limits: RevealLimits) -> None:
    """Count this reveal in the registrar's minute and day (`rate_hit`, atomic: concurrent reveals
    wait on the counter's row), committed whatever follows, so refused and failed tries count too.
    Raises Limited (429, Retry-After) past a limit; flags the auditors on the way."""
    minute_bucket, day_bucket = f"reveal-minute:{principal.user_id}", f"reveal-day:{principal.user_id}"
    with UnitOfWork(conn) as uow:
        minute, day = one_row(conn.execute("SELECT rate_hit(%s, interval '1 minute', 1), "
                                           "rate_hit(%s, interval '1 day', 1)", (minute_bucket, day_bucket)).fetchone())
        entry = partial(AuditEntry, actor_user_id=principal.user_id, actor_role=role_label(principal),
                        actor_institution=principal.institution, subject=f"user:{principal.user_id}", client=client)
        if day == limits.flagged_at:
            record(conn, entry(FLAGGED, detail={"reveals_today": day, "flagged_at": limits.flagged_at,
                                                "per_day": limits.per_day}))
        if minute == limits.per_minute + 1 or day == limits.per_day + 1:
            record(conn, entry(LIMITED, outcome="failure", detail={
                "reveals_this_minute": minute, "reveals_today": day, "per_minute": limits.per_minute,
                "per_day": limits.per_day}))
        uow.commit()
    if day > limits.per_day:
        raise Limited(f"too many identity numbers revealed: at most {limits.per_day} a day; the limit resets at "
                      "midnight (office time)", seconds_to_window_end("1 day"))
    if minute > limits.per_minute:
        raise Limited(f"too many identity numbers revealed: at most {limits.per_minute} a minute; wait a moment",
                      seconds_to_window_end("1 minute"))


def reveal_identity_number(conn: psycopg.Connection, party_id: int, principal: Principal, purpose: str,
                           client: str | None, keys: IdentityKeys | None = None,
                           limits: RevealLimits | None = None) -> dict[str, Any]:
    """The full identity document number of current party `party_id`, opened from its sealed form
    for a registrar who says why (`purpose`, e.g. the certificate being printed). The look is an
    audit row (action `identity_number_revealed`, the purpose, the masked form), committed before
    the number is returned: a reveal that cannot be logged is not answered. The caller checks the
    permission (Action.VIEW_IDENTITY_NUMBERS).

    Only a party the register is working with is revealed: a holder of a current right, the party
    of a current restriction, or a party named by id as holder, mortgagee or party of an
    application still open (received or under review) that someone else received. Each try
    with a valid purpose counts against `limits` first (`_count_reveal`),
    whether the party exists or not, so numbers cannot be read in bulk.

    Returns {"party_id", "id_document_type", "id_document_masked", "id_document_number"}.
    Raises ApplicationInvalid (422: no purpose, or not words: `purpose_problem`), Limited (429,
    Retry-After), PartyNotFound (404: no such current party, or one of no current right,
    restriction or open application), ApplicationConflict (409: the sealed number does not open
    under this installation's seal key)."""
    purpose = (purpose or "").strip()
    problem = purpose_problem(purpose)
    if problem:
        raise ApplicationInvalid(problem, "purpose")
    _count_reveal(conn, principal, client, limits or RevealLimits())
    with UnitOfWork(conn) as uow:
        row = conn.execute(queries.PARTY_SEALED, (party_id,)).fetchone()
        if row is None:
            raise PartyNotFound(f"party {party_id} is not a current party of the register")
        if conn.execute(queries.PARTY_IN_USE, {"party": party_id, "registrar": principal.user_id}).fetchone() is None:
            raise PartyNotFound(f"party {party_id} holds no current right or restriction and is named in no open "
                                "application: its full number is not revealed")
        doc_type, masked, digest, sealed = row
        try:
            number = unseal_identity((keys or identity_keys()).seal, bytes(digest), bytes(sealed))
        except SealBroken:
            raise ApplicationConflict("the identity number cannot be opened with this installation's seal key: "
                                      f"restore {SEAL_KEY_FILE} from where the register came from") from None
        record(conn, AuditEntry(REVEALED, access="consulted", actor_user_id=principal.user_id,
                                actor_role=role_label(principal), actor_institution=principal.institution,
                                subject=f"party:{party_id}", purpose=purpose, client=client,
                                detail={"document": masked, "document_type": doc_type}))
        uow.commit()
    return {"party_id": party_id, "id_document_type": doc_type, "id_document_masked": masked,
            "id_document_number": number}
