"""A backup holds names, identity digests, sealed numbers and password hashes (review finding L6):
the dump is written mode 0600 whatever the umask or an earlier file's mode, its archive folder
0700, and a symbolic link in its place is refused, never followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.cli import main


def test_a_backup_is_its_owners_only(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    dump = tmp_path / "cadastre.dump"
    dump.write_text("an older file, world-readable")
    dump.chmod(0o644)
    previous = os.umask(0o022)
    try:
        made = CliRunner().invoke(main, ["backup", str(dump)])
    finally:
        os.umask(previous)
    assert made.exit_code == 0, made.output
    assert dump.stat().st_mode & 0o777 == 0o600 and dump.stat().st_size > 1000
    assert (tmp_path / "cadastre.dump.files").stat().st_mode & 0o777 == 0o700


def test_a_backup_does_not_follow_a_symbolic_link(database_url: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not to be overwritten")
    (tmp_path / "link.dump").symlink_to(elsewhere)
    done = CliRunner().invoke(main, ["backup", str(tmp_path / "link.dump")])
    assert done.exit_code == 1 and "symbolic link" in done.output and "Traceback" not in done.output, done.output
    assert elsewhere.read_text() == "not to be overwritten"
