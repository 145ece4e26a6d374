"""What the archive's JSON API sends (the whitelist of fields)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

__all__ = ["AttachedFileOut", "AttachmentOut", "ArchiveFileOut"]


class _File(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sha256: str
    media_type: str
    byte_size: int
    pages: int
    width: int
    height: int


class AttachedFileOut(_File):
    """A file as attached to a source or submission; `width`/`height`: pixels (PDF: points)."""

    file_name: str


class AttachmentOut(BaseModel):
    kind: str  # "source" or "submission"
    id: int
    file_name: str
    attached_by_name: str
    attached_at: dt.datetime


class ArchiveFileOut(_File):
    stored_by_name: str
    stored_at: dt.datetime
    attached_to: list[AttachmentOut]
