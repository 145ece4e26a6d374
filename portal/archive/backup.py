"""The archive's files in a backup, and back: `cadastre backup FILE` writes the database to FILE
and the archive's files to the folder `FILE.files/` (the store's own layout, by hash); `cadastre
restore FILE` puts them back in the store, checking every file's bytes against its hash before
the database is restored, and every file the restored database names after it.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from portal.archive import queries
from portal.archive.store import FolderStore, StoreError, digest, is_digest

__all__ = ["files_folder", "back_up_files", "check_backup_files", "restore_files", "missing_files"]


def files_folder(dump: Path) -> Path:
    """Where the files of the backup `dump` are: `<dump>.files/`."""
    return dump.with_name(dump.name + ".files")


def back_up_files(url: str, store: FolderStore, target: Path) -> int:
    """Copy every file the database at `url` names from `store` into the folder `target` (made
    mode 0700 when new), each checked against its hash; returns how many. StoreError names a missing or altered file."""
    with psycopg.connect(url) as conn:
        hashes = [row[0] for row in conn.execute(queries.ALL_HASHES)]
    if not target.exists():  # the copies are the office's scans: the folder is its owner's only
        target.mkdir(mode=0o700, parents=True)
        target.chmod(0o700)  # whatever the umask
    copy = FolderStore(target)
    for sha256 in hashes:
        data = store.get(sha256)  # checks the hash
        copy.put(data)
    return len(hashes)


def check_backup_files(folder: Path) -> list[str]:
    """Every file of a backup folder with its bytes checked against its name; StoreError names
    the first one that does not match."""
    found: list[str] = []
    if not folder.exists():
        return found
    for file in sorted(folder.glob("??/??/*")):
        if not is_digest(file.name):
            continue
        if digest(file.read_bytes()) != file.name:
            raise StoreError(f"backup file {file} does not give its hash: the backup is damaged")
        found.append(file.name)
    return found


def restore_files(folder: Path, store: FolderStore) -> int:
    """Put every (checked) file of a backup folder in `store`; returns how many."""
    hashes = check_backup_files(folder)
    backup = FolderStore(folder)
    for sha256 in hashes:
        if store.exists(sha256):
            store.get(sha256)  # the copy already there must be intact too
        else:
            store.put(backup.get(sha256))
    return len(hashes)


def missing_files(url: str, store: FolderStore) -> list[str]:
    """The hashes the database at `url` names whose file is not in `store` or is altered."""
    with psycopg.connect(url) as conn:
        hashes = [row[0] for row in conn.execute(queries.ALL_HASHES)]
    missing = []
    for sha256 in hashes:
        try:
            store.get(sha256)
        except StoreError:
            missing.append(sha256)
    return missing
