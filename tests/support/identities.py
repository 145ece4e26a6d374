"""The register's identity numbers in tests. The register keeps them only as keyed digest, masked
form and sealed number (migration 0021); a test that needs a party's real number (to verify as
the party, or to scan answers for it) opens the sealed one with the session's keys
(`CADASTRE_ACCOUNTS_IDENTITY_KEY`/`_SEAL_KEY`, set in tests/conftest.py), and finds a party by
number through the digest, as the portal does."""

from __future__ import annotations

from typing import Any

from portal.accounts.security import identity_digest, identity_keys, unseal_identity

__all__ = ["opened", "document_digest"]


def opened(digest: Any, sealed: Any) -> str:
    """The number a party row's `id_document_digest` and `id_document_sealed` hold."""
    return unseal_identity(identity_keys().seal, bytes(digest), bytes(sealed))


def document_digest(number: str, document_type: str = "resident_id") -> bytes:
    """The digest the register keeps of this document (the accounts' own)."""
    return identity_digest(identity_keys().digest, document_type, number)
