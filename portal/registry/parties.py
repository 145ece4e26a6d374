"""The parties an application names: an existing party by id, or one found or recorded by its
identity document (checked with the national rules before anything is written)."""

from __future__ import annotations

from typing import Any

import psycopg

from portal.accounts.identity_numbers import credit_code_problem, resident_id_problem
from portal.platform.rows import one_row
from portal.registry import queries
from portal.registry.errors import ApplicationInvalid

__all__ = ["resolve_party"]

KINDS = {"resident_id": "natural_person", "passport": "natural_person", "hk_macao_permit": "natural_person",
         "taiwan_permit": "natural_person", "unified_social_credit_code": "legal_person",
         "other": "natural_person"}


def resolve_party(conn: psycopg.Connection, given: Any, field: str) -> int:
    """The party_id of `given`: {"party_id": N} or {"name", "id_document_type", "id_document_number"}."""
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
    row = conn.execute(queries.PARTY_BY_DOCUMENT, (doc_type, number)).fetchone()
    if row is not None:
        if row[1] != name:
            raise ApplicationInvalid(f"{field}: the identity document belongs to a party registered under "
                                     "another name; correct the name or the document", f"{field}.name")
        return int(row[0])
    return int(one_row(conn.execute(
        queries.INSERT_PARTY, (KINDS[doc_type], name, doc_type, number)).fetchone())[0])
