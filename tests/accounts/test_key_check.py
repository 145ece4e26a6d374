"""The keys outside the database at start-up (review findings M2 and L7; portal.accounts.key_check):
a key file missing while the register has parties stops the app and `cadastre serve` with one line
naming the file, instead of a new key; keys that do not open the register's parties stop it too; a
fresh install makes its keys (mode 0600); a malformed key setting or file is one line, no traceback."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import ValidationError

from portal.accounts.key_check import KeyUnusable, check_keys
from portal.accounts.security import SEAL_KEY_FILE, SHEET_KEY_FILE, identity_key, identity_seal_key
from portal.app import create_app
from portal.cli import main
from portal.platform import migrate
from portal.settings import AccountSettings, DatabaseSettings, PortalSettings, Settings

# tests/conftest.py's keys: those of the demo register
IDENTITY_KEY, SEAL_KEY, SHEET_KEY = "1de7" * 16, "5eed" * 16, "5ee7" * 16


def _settings(url: str, state: Path, *, seal: str | None = SEAL_KEY, sheet: str | None = SHEET_KEY) -> Settings:
    return Settings(database=DatabaseSettings(DATABASE_URL=url, CADASTRE_STATE_DIR=state),
                    accounts=AccountSettings(identity_key=IDENTITY_KEY, identity_seal_key=seal),
                    portal=PortalSettings(sheet_key=sheet))


@pytest.mark.parametrize(("seal", "sheet", "missing"), [(None, SHEET_KEY, SEAL_KEY_FILE),
                                                        (SEAL_KEY, None, SHEET_KEY_FILE)])
def test_the_app_does_not_start_when_a_key_file_of_a_register_with_parties_is_missing(
        database_url: str, tmp_path: Path, seal: str | None, sheet: str | None, missing: str) -> None:
    settings = _settings(database_url, tmp_path, seal=seal, sheet=sheet)
    with pytest.raises(KeyUnusable, match=f"key file missing: .*{missing}.*restore the key file") as refused:
        with TestClient(create_app(settings)):
            pass
    assert "\n" not in str(refused.value)
    assert not (tmp_path / missing).exists(), "no new key is made"


def test_serve_refuses_with_one_line_naming_the_missing_file(database_url: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CADASTRE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY")
    done = CliRunner().invoke(main, ["serve", "--port", "1"])
    assert done.exit_code == 1, done.output
    assert done.output.count("\n") == 1 and "Traceback" not in done.output, done.output
    assert str(tmp_path / SEAL_KEY_FILE) in done.output and "restore" in done.output
    assert not (tmp_path / SEAL_KEY_FILE).exists()


def test_keys_that_do_not_open_the_register_stop_the_start(database_url: str, tmp_path: Path) -> None:
    with pytest.raises(KeyUnusable, match="do not open the register's party"):
        with TestClient(create_app(_settings(database_url, tmp_path, seal="00ff" * 16))):
            pass
    (tmp_path / "identity-seal.key").write_text("ab" * 32)  # a file in place, but another installation's
    with psycopg.connect(database_url) as conn, pytest.raises(KeyUnusable, match="do not open"):
        check_keys(conn, _settings(database_url, tmp_path, seal=None))


def test_a_malformed_key_file_is_one_line(database_url: str, tmp_path: Path) -> None:
    (tmp_path / SEAL_KEY_FILE).write_text("zz")
    with psycopg.connect(database_url) as conn, pytest.raises(KeyUnusable, match="not hexadecimal") as refused:
        check_keys(conn, _settings(database_url, tmp_path, seal=None))
    assert str(tmp_path / SEAL_KEY_FILE) in str(refused.value)
    (tmp_path / SHEET_KEY_FILE).write_text("\n")
    with psycopg.connect(database_url) as conn, pytest.raises(KeyUnusable, match="is empty"):
        check_keys(conn, _settings(database_url, tmp_path, sheet=None))


def test_a_fresh_install_makes_its_keys_private(fresh_database: Callable[[], str], tmp_path: Path) -> None:
    url = fresh_database()
    migrate.upgrade(url)
    settings = Settings(database=DatabaseSettings(DATABASE_URL=url, CADASTRE_STATE_DIR=tmp_path),
                        accounts=AccountSettings(identity_key=IDENTITY_KEY, identity_seal_key=None),
                        portal=PortalSettings(sheet_key=None))
    with psycopg.connect(url) as conn:
        made = check_keys(conn, settings)
        assert check_keys(conn, settings) == made  # kept, not made again
    for name in (SEAL_KEY_FILE, SHEET_KEY_FILE):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("value", ["zz", "00" * 31, "0" * 63])
def test_a_malformed_seal_key_setting_is_one_line(database_url: str, monkeypatch: pytest.MonkeyPatch,
                                                  value: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY", value)
    done = CliRunner().invoke(main, ["serve"])
    assert done.exit_code == 1 and "Traceback" not in done.output, done.output
    assert done.output.count("\n") == 1 and "CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY" in done.output
    assert "64 hex digits" in done.output


def test_commands_that_match_or_seal_numbers_make_no_new_key(database_url: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`register import` (parties matched and sealed) and `register export --unmasked` refuse, one line."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CADASTRE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "QLR.csv").write_text("QLRMC,ZJZL,ZJH\n", encoding="utf-8")
    for args in (["register", "import", str(folder), "--as", "registrar", "--dry-run"],
                 ["register", "export", str(tmp_path / "out"), "--as", "registrar", "--unmasked"]):
        done = CliRunner().invoke(main, args)
        assert done.exit_code == 1 and "key file missing" in done.output, (args, done.output)
        assert "Traceback" not in done.output and done.output.count("\n") == 1, done.output
    assert not (tmp_path / "state" / SEAL_KEY_FILE).exists() and not (tmp_path / "out").exists()


def test_restore_makes_no_key_and_says_which_is_missing(database_url: str, server_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    name = "cadastre_restore_nokey_" + tmp_path.name[-8:].replace("-", "_").lower()
    monkeypatch.setenv("DATABASE_URL", database_url)
    dump = tmp_path / "cadastre.dump"
    try:
        assert CliRunner().invoke(main, ["backup", str(dump)]).exit_code == 0
        monkeypatch.setenv("CADASTRE_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.delenv("CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY")
        restored = CliRunner().invoke(main, ["restore", str(dump), "--into", name])
        assert restored.exit_code == 0, restored.output
        assert "warning" in restored.output and SEAL_KEY_FILE in restored.output and "missing" in restored.output
        assert not (tmp_path / "state" / SEAL_KEY_FILE).exists()
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_lost_sheet_key_is_made_again_only_on_purpose(database_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CADASTRE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("CADASTRE_SHEET_KEY")
    with psycopg.connect(database_url) as conn, pytest.raises(KeyUnusable, match="keys new-sheet-key"):
        check_keys(conn, _settings(database_url, tmp_path, sheet=None))
    made = CliRunner().invoke(main, ["keys", "new-sheet-key"])
    assert made.exit_code == 0 and "no longer verify" in made.output, made.output
    assert (tmp_path / SHEET_KEY_FILE).stat().st_mode & 0o777 == 0o600
    with psycopg.connect(database_url) as conn:
        check_keys(conn, _settings(database_url, tmp_path, sheet=None))  # starts now
    again = CliRunner().invoke(main, ["keys", "new-sheet-key"])
    assert again.exit_code == 1 and "never replaced" in again.output


# -- Key formats (review finding L1 of issue 20): at least 32 random bytes, hex or base64 -------------

@pytest.mark.parametrize(("setting", "field", "value", "wrong"), [
    ("CADASTRE_SHEET_KEY", "sheet_key", "zz", "has 1 byte"),
    ("CADASTRE_SHEET_KEY", "sheet_key", "test-sheet-key", "has 10 bytes"),
    ("CADASTRE_ACCOUNTS_IDENTITY_KEY", "identity_key", "ab" * 31, "has 31 bytes"),
    ("CADASTRE_ACCOUNTS_IDENTITY_KEY", "identity_key", "a" * 65, "has an odd number of hex digits"),
    ("CADASTRE_ACCOUNTS_IDENTITY_KEY", "identity_key", "my secret key", "is neither hex digits nor base64"),
    ("CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY", "identity_seal_key", "ab" * 16, "has 16 bytes")])
def test_a_short_or_mistyped_key_setting_refuses_to_start_naming_it(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, field: str, value: str,
        wrong: str) -> None:
    model = PortalSettings if field == "sheet_key" else AccountSettings
    with pytest.raises(ValidationError, match=f"{setting} {wrong}"):
        model(**{field: value})
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CADASTRE_STATE_DIR", str(tmp_path))
    monkeypatch.setenv(setting, value)
    done = CliRunner().invoke(main, ["serve", "--port", "1"])
    assert done.exit_code == 1, done.output
    assert done.output.count("\n") == 1 and "Traceback" not in done.output, done.output
    assert setting in done.output and wrong in done.output, done.output


@pytest.mark.parametrize(("name", "text", "wrong"), [
    (SHEET_KEY_FILE, "zz\n", "has 1 byte"), (SHEET_KEY_FILE, "abc", "has an odd number of hex digits"),
    (SHEET_KEY_FILE, "abcd", "has 2 bytes"),
    (SHEET_KEY_FILE, "0123 4567", "is neither hex digits nor base64")])
def test_a_short_or_mistyped_key_file_refuses_to_start_naming_it(database_url: str, tmp_path: Path, name: str,
                                                                  text: str, wrong: str) -> None:
    (tmp_path / name).write_text(text)
    settings = Settings(database=DatabaseSettings(DATABASE_URL=database_url, CADASTRE_STATE_DIR=tmp_path),
                        accounts=AccountSettings(identity_key=IDENTITY_KEY, identity_seal_key=SEAL_KEY),
                        portal=PortalSettings(sheet_key=None))
    with pytest.raises(KeyUnusable, match=f"key file .*{name} {wrong}") as refused:
        with TestClient(create_app(settings)):
            pass
    assert "\n" not in str(refused.value)
    assert (tmp_path / name).read_text() == text, "the file is left as it is"
    (tmp_path / "identity.key").write_text("abcd")  # the managed cluster's identity key file: read the same way
    with pytest.raises(KeyUnusable, match="key file .*identity.key has 2 bytes"):
        identity_key(AccountSettings(identity_key=None), DatabaseSettings(CADASTRE_STATE_DIR=tmp_path))


@pytest.mark.parametrize("key", ["5ee7" * 16, "5EE7" * 20, base64.b64encode(b"\x01" * 32).decode(),
                                 base64.urlsafe_b64encode(b"\xfb" * 33).decode().rstrip("="), secrets.token_hex(32),
                                 secrets.token_urlsafe(32)])
def test_keys_of_32_bytes_in_hex_or_base64_are_taken_as_they_are_written(key: str) -> None:
    assert PortalSettings(sheet_key=key).sheet_key == key
    assert AccountSettings(identity_key=key).identity_key == key


@pytest.mark.parametrize(("setting", "value"), [("CADASTRE_SHEET_KEY", "TOPSECRET.sheet." + secrets.token_hex(23)),
                                                ("CADASTRE_ACCOUNTS_IDENTITY_KEY", secrets.token_hex(31)),
                                                ("CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY", secrets.token_hex(31))])
def test_a_refused_key_is_never_printed_when_the_server_imports_the_app(tmp_path: Path, setting: str,
                                                                        value: str) -> None:
    environment = {**os.environ, setting: value, "CADASTRE_STATE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "uvicorn", "portal.main:app", "--port", "1"], env=environment,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert output.count("\n") == 1 and "Traceback" not in output, output
    assert output.startswith(f"settings refused: {setting} "), output
    assert not any(value[i:i + 6] in output for i in range(len(value) - 5)), output
    with pytest.raises(ValidationError) as refused:
        PortalSettings(sheet_key=value) if setting == "CADASTRE_SHEET_KEY" else AccountSettings(
            **{setting.removeprefix("CADASTRE_ACCOUNTS_").lower(): value})
    assert value[:6] not in str(refused.value) and "input_value" not in str(refused.value)


_KEY = "5ee7" * 16


@pytest.mark.parametrize(("value", "wrong"), [
    ("a" * 42, "has 21 bytes"), ("a" * 44, "has 22 bytes"), (_KEY + "\n", "has spaces or line breaks around it"),
    (" " + _KEY, "has spaces or line breaks around it"),
    ("a" * 43, "has an odd number of hex digits"), ("0x" + _KEY, "starts with 0x"),
    (base64.b64encode(b"\x01" * 32).decode() + "=", "is not valid base64"),
    (base64.b64encode(b"\x01" * 33).decode() + "==", "is not valid base64"),
    (base64.b64encode(b"\x01" * 32).decode().rstrip("=") + "==", "is not valid base64"),
    ("0" * 64, "is one character repeated"), ("Q" * 44, "is one character repeated")])
def test_a_key_setting_is_taken_exactly_and_its_format_is_unambiguous(value: str, wrong: str) -> None:
    # a setting "<key>\n" was used stripped, changing every digest and sheet MAC; 43 hex digits,
    # 0x+hex, wrong padding and 64 zeros passed as base64
    for model, field, name in ((PortalSettings, "sheet_key", "CADASTRE_SHEET_KEY"),
                               (AccountSettings, "identity_key", "CADASTRE_ACCOUNTS_IDENTITY_KEY")):
        with pytest.raises(ValidationError, match=f"{name} {wrong}"):
            model(**{field: value})


@pytest.mark.parametrize(("value", "wrong"), [
    ("5eed " * 16, "is not hexadecimal"), ("5eed" * 8 + " " + "5eed" * 8, "is not hexadecimal"),
    ("0x" + "5eed" * 16, "is not hexadecimal"), ("0" * 64, "is one character repeated"),
    ("5eed" * 16 + "a", "has an odd number of hex digits")])
def test_the_seal_key_is_64_hex_digits_and_nothing_else(tmp_path: Path, value: str, wrong: str) -> None:
    # bytes.fromhex skipped the spaces inside
    with pytest.raises(ValidationError, match=f"CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY {wrong}"):
        AccountSettings(identity_seal_key=value)
    (tmp_path / SEAL_KEY_FILE).write_text(value + "\n")
    with pytest.raises(KeyUnusable, match=f"identity seal key .*{SEAL_KEY_FILE}.* {wrong}"):
        identity_seal_key(AccountSettings(identity_seal_key=None), DatabaseSettings(CADASTRE_STATE_DIR=tmp_path))


def _make_fifo(path: Path) -> None:
    os.mkfifo(path)


def _make_directory(path: Path) -> None:
    path.mkdir()


def _make_latin1(path: Path) -> None:
    path.write_bytes(("\xe9" * 64).encode("latin-1"))


def _make_unreadable(path: Path) -> None:
    path.write_text(_KEY)
    path.chmod(0)


@pytest.mark.parametrize(("make", "wrong"), [
    (_make_fifo, "is not a regular file"), (_make_directory, "is not a regular file"),
    (_make_latin1, "is not text"), (_make_unreadable, "cannot be opened")])
@pytest.mark.parametrize("name", ["identity.key", SEAL_KEY_FILE, SHEET_KEY_FILE, "audit-signing.key"])
def test_a_key_file_that_is_no_readable_text_file_is_one_line(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Callable[[Path], None], wrong: str,
        name: str) -> None:
    # a FIFO hung the start; a directory, unreadable or non-UTF-8 file was a long traceback
    if make is _make_unreadable and os.geteuid() == 0:
        pytest.skip("root reads a file of mode 0")
    make(tmp_path / name)
    if name == "audit-signing.key":
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("CADASTRE_AUDIT_SIGNING_KEY_FILE", str(tmp_path / name))
        monkeypatch.setenv("CADASTRE_AUDIT_ANCHOR_FILE", str(tmp_path / "audit-anchors.log"))
        done = CliRunner().invoke(main, ["audit", "public-key"])
        assert done.exit_code == 1, done.output
        assert done.output.count("\n") == 1 and "Traceback" not in done.output, done.output
        expected = "is not a PEM Ed25519 private key" if make is _make_latin1 else f"key file {tmp_path / name} {wrong}"
        assert expected in done.output, done.output
        return
    if name == "identity.key":  # the managed cluster's identity key file (no DATABASE_URL)
        with pytest.raises(KeyUnusable, match=f"key file .*{name} {wrong}") as refused:
            identity_key(AccountSettings(identity_key=None), DatabaseSettings(CADASTRE_STATE_DIR=tmp_path))
        assert "\n" not in str(refused.value)
        return
    settings = _settings(database_url, tmp_path, seal=None if name == SEAL_KEY_FILE else SEAL_KEY,
                         sheet=None if name == SHEET_KEY_FILE else SHEET_KEY)
    with psycopg.connect(database_url) as conn:
        with pytest.raises(KeyUnusable, match=f"key file .*{name} {wrong}") as refused:
            check_keys(conn, settings)
    assert "\n" not in str(refused.value)
