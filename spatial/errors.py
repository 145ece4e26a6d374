"""Errors raised by the spatial package, each naming the file, line, feature and field at fault.

A surveyor who uploads a file must be able to find and fix the problem from the message
alone, so every error carries the place it was found, and `str()` reads like
``parcels.txt, line 12, field Y: '4O438683.652' is not a number``.

    SpatialError (ValueError)       anything wrong with an uploaded spatial file
    ├── ReadError                   the file cannot be read as the format it claims to be
    │   ├── UnsupportedFormatError  a format this package refuses (INTERLIS, VRT, unknown bytes)
    │   └── LimitError              the file exceeds a limit (unpacked size, features, CPU time, memory)
    └── CrsError                    the coordinate reference system is missing or unusable

No HTTP status lives here: the web layer maps these classes to responses once.
"""

from __future__ import annotations

__all__ = ["SpatialError", "ReadError", "UnsupportedFormatError", "LimitError", "CrsError"]


class SpatialError(ValueError):
    """Base class: a message plus the place (file, line, feature, field), any of which may be None.

    `feature` is free text because places differ by format: ``feature 3``,
    ``layer 'parcel', feature 3`` or ``entity LWPOLYLINE #1A2 (layer ZD)``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        feature: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.feature = feature
        self.field = field

    @property
    def place(self) -> str:
        """Where the problem is inside the file, e.g. ``line 12, field Y`` (may be empty)."""
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.feature:
            parts.append(self.feature)
        if self.field:
            parts.append(f"field {self.field}")
        return ", ".join(parts)

    def __str__(self) -> str:
        prefix = ", ".join(p for p in (self.file, self.place) if p)
        return f"{prefix}: {self.message}" if prefix else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments are not restored by the default pickling of exceptions.
        return (
            _rebuild,
            (type(self), self.message, self.file, self.line, self.feature, self.field),
        )


def _rebuild(
    cls: type[SpatialError],
    message: str,
    file: str | None,
    line: int | None,
    feature: str | None,
    field: str | None,
) -> SpatialError:
    return cls(message, file=file, line=line, feature=feature, field=field)


class ReadError(SpatialError):
    """The file is not what its name or content says, or a value in it cannot be read."""


class UnsupportedFormatError(ReadError):
    """A format the package does not read; the message says which format would be accepted."""


class LimitError(ReadError):
    """Reading the file would exceed a limit of the server; the message names the limit."""


class CrsError(SpatialError):
    """The CRS is missing, unknown, contradictory, or has no EPSG code."""
