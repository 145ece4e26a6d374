"""The parties an application names: an existing party by id, or one found or recorded by its
identity document (checked with the national rules before anything is written).

The register keeps no identity number in clear: a party is found by the keyed digest of its
document and recorded with digest, masked form and sealed number (`security.party_identity`)."""

from __future__ import annotations

from typing import Any

import psycopg

from portal.accounts.identity_numbers import credit_code_problem, resident_id_problem
from portal.accounts.security import IdentityKeys, SealBroken, identity_keys, party_identity, unseal_identity
from portal.audit.trail import AuditEntry, record
from portal.platform.permissions import Principal, role_label
from portal.platform.rows import one_row
from portal.platform.work import UnitOfWork
from portal.registry import queries
from portal.registry.errors import ApplicationConflict, ApplicationInvalid, PartyNotFound

__all__ = ["resolve_party", "reveal_identity_number", "REVEALED"]

# The audit action of a registrar's look at a full identity number.
REVEALED = "identity_number_revealed"

KINDS = {"resident_id": "natural_person", "passport": "natural_person", "hk_macao_permit": "natural_person",
         "taiwan_permit": "natural_person", "unified_social_credit_code": "legal_person",
         "other": "natural_person"}


def resolve_party(conn: psycopg.Connection, given: Any, field: str, keys: IdentityKeys | None = None) -> int:
    """The party_id of `given`: {"party_id": N} or {"name", "id_document_type", "id_document_number"},
    found by the document's digest under `keys` (the environment's identity keys when not given).
    Raises ApplicationInvalid naming the field (never the number) when the document is malformed."""
    if not isinstance(given, dict):
        raise ApplicationInvalid(f"{field}: give a party as {{'party_id': N}} or with its identity document", field)
    if "party_id" in given:
        row = conn.execute(queries.PARTY_BY_ID, (given["party_id"],)).fetchone()
        if row is None:
            raise ApplicationInvalid(f"{field}: party {given['party_id']} is not in the register", field)
        return int(row[0])
    name = str(given.get("name") or "").strip()
    doc_type = str(given.get("id_document_type") or "resident_id")
    number = str(given.get("id_document_number") or "").strip().upper()
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
    identity = party_identity(keys or identity_keys(), doc_type, number)
    row = conn.execute(queries.PARTY_BY_DOCUMENT, (identity.digest,)).fetchone()
    if row is not None:
        if row[1] != name:
            raise ApplicationInvalid(f"{field}: the identity document belongs to a party registered under "
                                     "another name; correct the name or the document", f"{field}.name")
        return int(row[0])
    return int(one_row(conn.execute(
        queries.INSERT_PARTY, (KINDS[doc_type], name, doc_type, identity.digest, identity.masked,
                               identity.sealed)).fetchone())[0])


def reveal_identity_number(conn: psycopg.Connection, party_id: int, principal: Principal, purpose: str,
                           client: str | None, keys: IdentityKeys | None = None) -> dict[str, Any]:
    """The full identity document number of current party `party_id`, opened from its sealed form
    for a registrar who says why (`purpose`, e.g. the certificate being printed). The look is an
    audit row (action `identity_number_revealed`, the purpose, the masked form), committed before
    the number is returned: a reveal that cannot be logged is not answered. The caller checks the
    permission (Action.VIEW_IDENTITY_NUMBERS).

    Returns {"party_id", "id_document_type", "id_document_masked", "id_document_number"}.
    Raises ApplicationInvalid (no purpose), PartyNotFound (404), ApplicationConflict (409: the
    sealed number does not open under this installation's seal key)."""
    purpose = (purpose or "").strip()
    if not purpose:
        raise ApplicationInvalid("say why the full identity number is needed (the purpose is audited)", "purpose")
    with UnitOfWork(conn) as uow:
        row = conn.execute(queries.PARTY_SEALED, (party_id,)).fetchone()
        if row is None:
            raise PartyNotFound(f"party {party_id} is not a current party of the register")
        doc_type, masked, digest, sealed = row
        try:
            number = unseal_identity((keys or identity_keys()).seal, bytes(digest), bytes(sealed))
        except SealBroken:
            raise ApplicationConflict("the identity number cannot be opened with this installation's seal key: "
                                      "restore identity-seal.key from where the register came from") from None
        record(conn, AuditEntry(REVEALED, access="consulted", actor_user_id=principal.user_id,
                                actor_role=role_label(principal), actor_institution=principal.institution,
                                subject=f"party:{party_id}", purpose=purpose, client=client,
                                detail={"document": masked, "document_type": doc_type}))
        uow.commit()
    return {"party_id": party_id, "id_document_type": doc_type, "id_document_masked": masked,
            "id_document_number": number}
