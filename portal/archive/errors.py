"""The archive's refusals (see `portal.platform.errors` for the whole tree)::

    ArchiveError          400 archive_error
     ├── FileRefused      422 file_refused            `reason` (stable, `archive.refusal.<reason>`), `file`
     └── ArchiveNotFound  404 archive_not_found       no such file, source or page, or not yours to see
"""

from __future__ import annotations

from typing import Any

from portal.platform.errors import CadastreError

__all__ = ["ArchiveError", "FileRefused", "ArchiveNotFound"]


class ArchiveError(CadastreError):
    status = 400
    code = "archive_error"


class FileRefused(ArchiveError):
    """A file not kept: `reason` says why in a stable word (executable, pixel_limit, pdf_javascript...)."""

    status = 422
    code = "file_refused"
    default_message = "the file was not accepted into the archive"

    def __init__(self, reason: str = "unreadable", message: str | None = None, *, file: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.file = file

    def fields(self) -> dict[str, Any]:
        return {"reason": self.reason, "file": self.file}


class ArchiveNotFound(ArchiveError):
    status = 404
    code = "archive_not_found"
