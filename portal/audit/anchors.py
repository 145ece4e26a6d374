"""Anchors: the audit chain's head, signed and written outside the database.

The chain (trail.py) shows a row changed with the triggers switched off, but it uses no secret and
keeps its head in the same database: whoever owns the database can rewrite a row, recompute every
later hash and move the head, and the chain is whole again. An anchor closes that: every few
minutes `cadastre audit anchor` signs the head (seq, hash) with an Ed25519 key kept outside the
database and appends one line to a file outside it. A row rewritten later no longer gives the
hash an anchor holds, however many hashes after it were recomputed, and an anchor cannot be
forged or edited without the private key.

- The anchor file: one line per checkpoint, `seq hash-hex time signature-hex`, opened with
  O_APPEND and fsync'd; `<state_dir>/audit-anchors.log` unless `CADASTRE_AUDIT_ANCHOR_FILE`.
- The key: generated on first use in `<state_dir>/audit-signing.key` (mode 0600) unless
  `CADASTRE_AUDIT_SIGNING_KEY_FILE`; `cadastre audit public-key` prints the public half for the
  auditors to keep elsewhere and hand to `cadastre audit verify --public-key`.
- An anchor is written only over a chain checked since the previous anchor (`verify_since`), so
  a rewrite made between two anchors is refused, not signed.

Nothing here runs on a request: the restriction check stays one database call.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from portal.audit.trail import GENESIS, ChainProblem, verify_since
from portal.settings import read_key_file

__all__ = ["Anchor", "AnchorRefused", "signing_key", "public_key_pem", "load_public_key", "read_anchors",
           "write_anchor", "verify_anchors"]


@dataclass(frozen=True)
class Anchor:
    """One checkpoint: the chain's head at `at` (line `line` of the anchor file)."""

    seq: int
    hash: bytes
    at: str
    signature: bytes
    line: int = 0

    def message(self) -> bytes:
        return message(self.seq, self.hash, self.at)

    def text(self) -> str:
        return f"{self.seq} {self.hash.hex()} {self.at} {self.signature.hex()}\n"


class AnchorRefused(RuntimeError):
    """The chain is not whole since the last anchor: signing its head would vouch for a rewrite."""

    def __init__(self, problems: Sequence[ChainProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)


def message(seq: int, head: bytes, at: str) -> bytes:
    """The bytes an anchor's signature covers."""
    return f"cadastre audit anchor v1\n{seq}\n{head.hex()}\n{at}".encode("ascii")


# -- keys --------------------------------------------------------------------------------

def signing_key(path: Path) -> Ed25519PrivateKey:
    """The signing key at `path`, generated (mode 0600, never overwritten) on first use. Raises
    `portal.settings.KeyFileUnreadable` (one line) when `path` is not a regular file or cannot be
    read (`read_key_file`: a FIFO does not hang), ValueError when it is not an Ed25519 key."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
    key = serialization.load_pem_private_key(read_key_file(path), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def public_key_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


# -- the anchor file -----------------------------------------------------------------------

def read_anchors(path: Path) -> tuple[list[Anchor], list[ChainProblem]]:
    """Every anchor in file order, and a problem for each line that is not one."""
    anchors: list[Anchor] = []
    problems: list[ChainProblem] = []
    if not Path(path).exists():
        return anchors, problems
    with open(path, encoding="ascii", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                seq, head, at, signature = text.split()
                anchors.append(Anchor(int(seq), bytes.fromhex(head), at, bytes.fromhex(signature), number))
            except ValueError:
                problems.append(ChainProblem("anchor", 0, f"anchor file line {number} is not an anchor: "
                                                          f"the file was edited"))
    return anchors, problems


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def write_anchor(conn: psycopg.Connection, key: Ed25519PrivateKey, path: Path) -> Anchor:
    """Check the chain since the last anchor, then sign its head and append the anchor.

    Raises AnchorRefused (nothing written) when the last anchor no longer matches or a row after
    it was altered, removed or inserted.
    """
    anchors, unreadable = read_anchors(path)
    if unreadable:
        raise AnchorRefused(unreadable)
    last = anchors[-1] if anchors else Anchor(0, GENESIS, "", b"")
    problems = verify_anchors(conn, anchors[-1:], key.public_key()) if anchors else []
    if problems:
        raise AnchorRefused(problems)
    head_seq, head_hash, problems = verify_since(conn, last.seq, last.hash)
    if problems:
        raise AnchorRefused(problems)
    at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    anchor = Anchor(head_seq, head_hash, at, key.sign(message(head_seq, head_hash, at)),
                    (anchors[-1].line + 1) if anchors else 1)
    _append(Path(path), anchor.text())
    return anchor


# -- verification ----------------------------------------------------------------------------

def verify_anchors(conn: psycopg.Connection, anchors: Sequence[Anchor],
                   public_key: Ed25519PublicKey) -> list[ChainProblem]:
    """Each anchor's signature, and each anchored (seq, hash) against the row in the database.

    A rewrite is named by the first anchor that no longer matches: the rewritten row lies after
    the anchor before it (which still matches) and at or before this one.
    """
    problems: list[ChainProblem] = []
    good: list[Anchor] = []
    previous = 0
    for anchor in anchors:
        try:
            public_key.verify(anchor.signature, anchor.message())
        except InvalidSignature:
            problems.append(ChainProblem("anchor", anchor.seq, f"anchor on line {anchor.line} (row {anchor.seq}) "
                                                               f"has a bad signature: the anchor file was edited "
                                                               f"or signed with another key"))
            continue
        if anchor.seq < previous:
            problems.append(ChainProblem("anchor", anchor.seq, f"anchor on line {anchor.line} (row {anchor.seq}) "
                                                               f"goes back before row {previous}: the chain was "
                                                               f"cut back and regrown between anchors"))
        previous = max(previous, anchor.seq)
        good.append(anchor)
    seqs = sorted({a.seq for a in good if a.seq > 0})
    stored = {seq: bytes(digest) for seq, digest in
              conn.execute("SELECT seq, hash FROM audit_log WHERE seq = ANY(%s)", (seqs,)).fetchall()}
    stored[0] = GENESIS
    matched = 0
    broken: list[Anchor] = []
    for anchor in good:
        if stored.get(anchor.seq) == anchor.hash:
            if not broken:
                matched = max(matched, anchor.seq)
            continue
        broken.append(anchor)
    if broken:
        first = broken[0]
        where = (f"row {first.seq} was removed" if first.seq not in stored
                 else f"a row after row {matched} and up to row {first.seq} was rewritten")
        problems.append(ChainProblem("anchor", first.seq, f"anchor on line {first.line} (row {first.seq}, "
                                                          f"signed {first.at}) no longer matches the database: "
                                                          f"{where}"))
        if len(broken) > 1:
            problems.append(ChainProblem("anchor", broken[1].seq, f"{len(broken) - 1} later anchor(s) no longer "
                                                                  f"match either"))
    return problems
