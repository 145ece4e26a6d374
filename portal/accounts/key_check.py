"""The keys outside the database, checked at start-up (the app's lifespan, `cadastre serve` and
the `cadastre` commands that read or seal identity numbers) before anything is written under them.

- A key file (identity.key, identity-seal.key, sheet.key under `<state_dir>`, when its setting
  is not given) is made only on a fresh install: a register without parties. When the register
  already has parties, a missing file is the operator's loss to repair, never a reason to make a
  new key (new parties would be sealed and digested under it and the old ones would no longer
  open, nor would printed sheet references verify): `KeyUnusable`, naming the file and how to
  restore it.
- The keys in place must open one existing party (the seal key opens its number and the digest
  key gives its digest again, as `cadastre restore` checks): else `KeyUnusable` too. Starting
  anyway would record every returning party as a new one and make every reveal a 409.

- A key setting or file not in the format of `portal.settings.KEY_FORMAT` (at least 32 random
  bytes, hex digits or base64) is refused: a 2-byte sheet key would make every MAC a guess.

Every refusal is one line (`KeyUnusable`'s message); the CLI prints it, the app does not start.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from portal.accounts.security import (
    SEAL_KEY_FILE,
    SHEET_KEY_FILE,
    IdentityKeys,
    KeyUnusable,
    identity_key,
    identity_seal_key,
    key_file_text,
    key_files,
    keys_open,
    sheet_key,
)
from portal.settings import Settings, key_problem

__all__ = ["StartKeys", "check_keys", "KeyUnusable", "new_sheet_key"]

_ONE_PARTY = """
SELECT party_id, id_document_digest, id_document_sealed, id_document_type
  FROM current_parties ORDER BY party_id LIMIT 1
"""


@dataclass(frozen=True)
class StartKeys:
    """The keys an app or a command runs with: the identity digest key, both identity keys and
    the sheet references' key."""

    identity_key: bytes
    identity_keys: IdentityKeys
    sheet_key: bytes


def _restore_advice(settings: Settings) -> str:
    return (f"restore the key file(s) from where you keep the keys (never in a backup) into "
            f"{settings.database.state_dir}, mode 0600, or give their CADASTRE_* settings")


def check_keys(conn: psycopg.Connection, settings: Settings, *, try_party: bool = True) -> StartKeys:
    """The keys of `settings`, made only when the register (reached by `conn`) has no parties.

    Raises KeyUnusable (one line, naming the file or setting) when a key file is missing but
    the register has parties, when a key is malformed, or (unless `try_party` is false: the
    caller reports that itself, as an unmasked export does in its audit row) when the keys do
    not open the first current party (`keys_open`)."""
    try:
        party = conn.execute(_ONE_PARTY).fetchone()
    except (psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable):
        party = None  # a register before migration 0021 (the benches' 1M district): nothing sealed yet
    conn.rollback()
    missing = [path for path in key_files(settings.accounts, settings.portal.sheet_key, settings.database)
               if not path.exists()]
    if missing and party is not None:
        names = ", ".join(str(path) for path in missing)
        sheet_only = [path.name for path in missing] == [SHEET_KEY_FILE]
        raise KeyUnusable(f"key file missing: {names}; the register has parties, so no new key is made: "
                          f"{_restore_advice(settings)}" + (
                              "; if it is lost for good (or this installation never had one), make a new one with "
                              "`cadastre keys new-sheet-key` (sheets printed under the old key will no longer "
                              "verify)" if sheet_only else ""))
    for path in key_files(settings.accounts, settings.portal.sheet_key, settings.database):
        if not path.exists() and not path.is_symlink():
            continue
        text = key_file_text(path)  # a regular file only, checked before reading (a FIFO would hang)
        if not text:
            raise KeyUnusable(f"key file {path} is empty: {_restore_advice(settings)}")
        problem = key_problem(text) if path.name != SEAL_KEY_FILE else None
        if problem:  # the seal key's own check (exactly 64 hex digits) follows in identity_seal_key
            raise KeyUnusable(f"key file {path} {problem}; or {_restore_advice(settings)}")
    keys = IdentityKeys(identity_key(settings.accounts, settings.database),
                        identity_seal_key(settings.accounts, settings.database))
    if try_party and party is not None and not keys_open(keys, bytes(party[1]), bytes(party[2]), str(party[3])):
        raise KeyUnusable(f"the identity keys in place do not open the register's party {party[0]}: "
                          "CADASTRE_ACCOUNTS_IDENTITY_KEY / identity.key and CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY / "
                          f"identity-seal.key are not those it was recorded with; {_restore_advice(settings)}")
    return StartKeys(keys.digest, keys, sheet_key(settings.portal.sheet_key, settings.database))


def new_sheet_key(settings: Settings) -> str:
    """Make `<state_dir>/sheet.key` deliberately (the operator's `cadastre keys new-sheet-key`),
    when it is lost for good or never existed; returns its path. Sheets printed under an earlier
    key no longer verify. Raises KeyUnusable when the setting CADASTRE_SHEET_KEY is given (the
    file is not read) or the file exists (never replaced)."""
    if settings.portal.sheet_key:
        raise KeyUnusable("CADASTRE_SHEET_KEY is set: the sheet key is that setting, no file is read")
    path = key_files(settings.accounts, None, settings.database)[-1]
    if path.exists():
        raise KeyUnusable(f"{path} exists: a key file is never replaced (move it aside yourself if you mean to)")
    sheet_key(None, settings.database)  # made, mode 0600
    return str(path)
