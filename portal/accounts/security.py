"""Secrets handled by accounts: password hashes, session and API tokens, identity digests.

- Passwords: argon2id (argon2-cffi); the cost comes from the settings so tests can make it cheap
  while production keeps OWASP's minimum (19 MiB, 2 passes).
- Tokens: 32 random bytes, URL-safe; only their SHA-256 is stored, so a database dump does not
  hand out working sessions.
- Identity numbers: HMAC-SHA256 under a key that lives outside the database, so matching works
  while a dump does not reveal them (the number space is small: an unkeyed hash would be
  reversed by enumeration within hours).
- The register's parties (`party_identity`): the same digest, a masked form for display, and the
  number sealed with AES-256-GCM under a second key outside the database (`identity_seal_key`),
  opened only for an audited reveal or an unmasked export. A dump of the database holds masks,
  digests and ciphertexts: no identity number.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.accounts.identity_numbers import mask_document_number
from portal.settings import (
    AccountSettings,
    DatabaseSettings,
    KeyFileUnreadable,
    key_problem,
    read_key_text,
    seal_key_problem,
)

__all__ = ["password_hasher", "hash_password", "check_password", "new_token", "token_digest",
           "identity_key", "identity_digest", "same_secret", "dummy_hash", "identity_seal_key", "IdentityKeys",
           "identity_keys", "identity_key_places", "keys_open", "PartyIdentity", "party_identity", "seal_identity",
           "unseal_identity", "SealBroken", "SEAL_KEY_FILE", "SHEET_KEY_FILE", "sheet_key", "KeyUnusable",
           "key_files", "key_file_text"]


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
        return _checked("CADASTRE_ACCOUNTS_IDENTITY_KEY", settings.identity_key).encode("utf-8")
    return _key_file(Path(database.state_dir) / "identity.key").encode("utf-8")


class KeyUnusable(ValueError):
    """A key file is missing while the register already depends on it, is malformed, or the keys
    in place do not open the register's parties: the message is one line naming the file or
    setting and what to do (`portal.accounts.key_check`)."""


def _checked(where: str, key: str) -> str:
    """`key` (a setting's value exactly, or a file's text stripped), unchanged, when it is in the
    format of `portal.settings.KEY_FORMAT`; else KeyUnusable, one line naming `where`."""
    problem = key_problem(key)
    if problem:
        raise KeyUnusable(f"{where} {problem}")
    return key


def key_file_text(path: Path) -> str:
    """The text of the key file `path` without its surrounding whitespace, read only when it is a
    regular file (`portal.settings.read_key_text`: a FIFO does not hang the start). Raises
    KeyUnusable, one line naming the file, when it cannot be read as a key file."""
    try:
        return read_key_text(path).strip()
    except KeyFileUnreadable as error:
        raise KeyUnusable(str(error)) from None


def _key_file(path: Path, *, checked: bool = True) -> str:
    """The key in `path`, made (32 random bytes as 64 hex digits, mode 0600) on first use. Whether
    a missing file may be made is `portal.accounts.key_check`'s decision, at start-up (app and
    CLI). Raises KeyUnusable naming the file when its key is not in `portal.settings.KEY_FORMAT`
    (unless not `checked`: the seal key's own check is stricter)."""
    def read() -> str:
        text = key_file_text(path)
        return _checked(f"key file {path}", text) if checked else text

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it a moment ago
            return read()
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return read()


SEAL_KEY_FILE = "identity-seal.key"


def identity_seal_key(settings: AccountSettings, database: DatabaseSettings) -> bytes:
    """The 32-byte AES-256-GCM key that seals the register's identity numbers: the setting
    `identity_seal_key` (64 hex digits), else a random key kept in `<state_dir>/identity-seal.key`
    (made on first use, mode 0600: `key_check` allows that only for a register without parties).
    It is never in the database nor in a backup: losing it loses the full numbers (masks and
    digests still work). Raises KeyUnusable (a ValueError, one line naming the file or setting)
    for a key that is not 64 hex digits."""
    path = Path(database.state_dir) / SEAL_KEY_FILE
    text = settings.identity_seal_key or _key_file(path, checked=False)
    where = "CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY" if settings.identity_seal_key else str(path)
    problem = seal_key_problem(text)
    if problem:
        raise KeyUnusable(f"the identity seal key ({where}) {problem}")
    return bytes.fromhex(text.strip())


SHEET_KEY_FILE = "sheet.key"


def sheet_key(setting: str | None, database: DatabaseSettings) -> bytes:
    """The key that authenticates parcel sheet references (HMAC-SHA256, `portal.public.sheet_verify`):
    the setting `CADASTRE_SHEET_KEY`, else a random key kept in `<state_dir>/sheet.key` (made on
    first use, mode 0600). Never in the database: a dump cannot forge references. Losing or
    changing it makes every printed reference unverifiable. Raises KeyUnusable (one line naming the
    setting or file) for a key not in `portal.settings.KEY_FORMAT`."""
    if setting:
        return _checked("CADASTRE_SHEET_KEY", setting).encode("utf-8")
    return _key_file(Path(database.state_dir) / SHEET_KEY_FILE).encode("utf-8")


def key_files(settings: AccountSettings, sheet_setting: str | None, database: DatabaseSettings) -> list[Path]:
    """The key files this installation reads (those whose setting is not given): identity.key,
    identity-seal.key and sheet.key under `<state_dir>`."""
    state = Path(database.state_dir)
    return [state / name for name, setting in (("identity.key", settings.identity_key),
                                               (SEAL_KEY_FILE, settings.identity_seal_key),
                                               (SHEET_KEY_FILE, sheet_setting)) if not setting]


def identity_key_places(settings: AccountSettings, database: DatabaseSettings) -> list[str]:
    """Where the two identity keys are (a setting's name or a file's path), for the operator: they
    are never in the database, so never in a backup."""
    state = Path(database.state_dir)
    return ["CADASTRE_ACCOUNTS_IDENTITY_KEY (setting)" if settings.identity_key else str(state / "identity.key"),
            "CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY (setting)" if settings.identity_seal_key
            else str(state / SEAL_KEY_FILE)]


def keys_open(keys: IdentityKeys, digest: bytes, sealed: bytes, document_type: str) -> bool:
    """Whether `keys` are the keys a party's identity was recorded with: the seal key opens the
    sealed number and the digest key gives its digest again."""
    try:
        number = unseal_identity(keys.seal, digest, sealed)
    except SealBroken:
        return False
    return hmac.compare_digest(identity_digest(keys.digest, document_type, number), bytes(digest))


@dataclass(frozen=True)
class IdentityKeys:
    """The two keys of identity numbers: `digest` (HMAC, matching) and `seal` (AES-GCM, the full
    number for an audited reveal)."""

    digest: bytes
    seal: bytes


def identity_keys(settings: AccountSettings | None = None, database: DatabaseSettings | None = None) -> IdentityKeys:
    """Both keys from the settings; without settings, the environment's (read once per process:
    the keys of `cadastre` commands, migrations and the register's workflow, which run with the
    settings of the environment as the app does). Raises ValueError for a malformed seal key."""
    if settings is None and database is None:
        return _environment_keys()
    settings = settings or AccountSettings()
    database = database or DatabaseSettings()
    return IdentityKeys(identity_key(settings, database), identity_seal_key(settings, database))


@lru_cache(maxsize=1)
def _environment_keys() -> IdentityKeys:
    return identity_keys(AccountSettings(), DatabaseSettings())


def identity_digest(key: bytes, document_type: str, number: str) -> bytes:
    """HMAC-SHA256 of a normalised identity document number."""
    message = f"{document_type}:{number.strip().upper()}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()


_SEAL_VERSION = b"\x01"


class SealBroken(ValueError):
    """A sealed identity number does not open under this key (another installation's key, or the
    bytes were changed or moved to another party's row)."""


def seal_identity(key: bytes, digest: bytes, number: str) -> bytes:
    """The number sealed with AES-256-GCM: version byte, 12-byte random nonce, ciphertext and tag.
    The digest is the associated data, so a sealed number copied onto another party does not open."""
    nonce = secrets.token_bytes(12)
    return _SEAL_VERSION + nonce + AESGCM(key).encrypt(nonce, number.encode("utf-8"), digest)


def unseal_identity(key: bytes, digest: bytes, sealed: bytes) -> str:
    """The number `seal_identity` sealed. Raises SealBroken when it does not open."""
    sealed = bytes(sealed)
    if sealed[:1] != _SEAL_VERSION or len(sealed) < 29:
        raise SealBroken("the sealed identity number is not in a form this version knows")
    try:
        return AESGCM(key).decrypt(sealed[1:13], sealed[13:], bytes(digest)).decode("utf-8")
    except InvalidTag:
        raise SealBroken("the sealed identity number does not open under this installation's seal key") from None


@dataclass(frozen=True)
class PartyIdentity:
    """What the register keeps of a party's identity document (columns `id_document_digest`,
    `id_document_masked`, `id_document_sealed`)."""

    digest: bytes
    masked: str
    sealed: bytes


def party_identity(keys: IdentityKeys, document_type: str, number: str) -> PartyIdentity:
    """Digest, masked form and sealed number of an identity document already checked by the
    national rules (GB 11643, GB 32100: `identity_numbers`); the number is normalised (stripped,
    upper case) first, as `identity_digest` does."""
    number = number.strip().upper()
    digest = identity_digest(keys.digest, document_type, number)
    return PartyIdentity(digest, mask_document_number(number), seal_identity(keys.seal, digest, number))
