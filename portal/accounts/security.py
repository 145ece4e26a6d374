"""Secrets handled by accounts: password hashes, session and API tokens, identity digests.

- Passwords: argon2id (argon2-cffi); the cost comes from the settings so tests can make it cheap
  while production keeps OWASP's minimum (19 MiB, 2 passes).
- Tokens: 32 random bytes, URL-safe; only their SHA-256 is stored, so a database dump does not
  hand out working sessions.
- Identity numbers: HMAC-SHA256 under a key that lives outside the database, so matching works
  while a dump does not reveal them (the number space is small: an unkeyed hash would be
  reversed by enumeration within hours).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portal.settings import AccountSettings, DatabaseSettings

__all__ = ["password_hasher", "hash_password", "check_password", "new_token", "token_digest",
           "identity_key", "identity_digest", "same_secret", "dummy_hash"]


@lru_cache(maxsize=8)
def password_hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def _hasher(settings: AccountSettings) -> PasswordHasher:
    return password_hasher(settings.password_time_cost, settings.password_memory_kib,
                           settings.password_parallelism)


def hash_password(settings: AccountSettings, password: str) -> str:
    return _hasher(settings).hash(password)


def dummy_hash(settings: AccountSettings) -> str:
    """A hash to verify against when the user does not exist, so timing does not reveal names."""
    return _dummy(settings.password_time_cost, settings.password_memory_kib, settings.password_parallelism)


@lru_cache(maxsize=8)
def _dummy(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return password_hasher(time_cost, memory_kib, parallelism).hash(secrets.token_hex(16))


def check_password(settings: AccountSettings, stored: str, password: str) -> bool:
    try:
        return _hasher(settings).verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def same_secret(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def identity_key(settings: AccountSettings, database: DatabaseSettings) -> bytes:
    """The identity digest key: the setting, else (managed cluster only: `Settings` refuses a
    DATABASE_URL without the setting) a random key kept in `<state_dir>/identity.key`."""
    if settings.identity_key:
        return settings.identity_key.encode("utf-8")
    path = Path(database.state_dir) / "identity.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode("utf-8")


def identity_digest(key: bytes, document_type: str, number: str) -> bytes:
    """HMAC-SHA256 of a normalised identity document number."""
    message = f"{document_type}:{number.strip().upper()}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()
