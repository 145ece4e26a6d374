"""Issues found in an upload and the report that gathers them.

An `Issue` has one shape whoever finds it: a reader (an unclosed ring it closed), the
geometric validation in this package, or the validation against the cadastre the portal runs afterwards
(overlap with the published cadastre, parcel code already registered, parcel outside the
administrative area). The portal appends its own issues with `ValidationReport.extend`, so
the surveyor sees one list, and `blocks_publication` answers for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = ["Severity", "IssueCode", "Issue", "ValidationReport"]

Severity = Literal["error", "warning"]


class IssueCode(StrEnum):
    """Stable machine codes: clients and translations key on these, so never rename one."""

    # Found while reading a file.
    UNCLOSED_RING = "unclosed_ring"
    TOO_FEW_POINTS = "too_few_points"
    NOT_POLYGON = "not_polygon"
    EMPTY = "empty"
    BAD_VALUE = "bad_value"
    LINE_IGNORED = "line_ignored"
    POINT_COUNT_MISMATCH = "point_count_mismatch"
    SEPARATE_PART = "separate_part"
    RING_NESTING = "ring_nesting"
    MULTIPLE_LABELS = "multiple_labels"
    DUPLICATE_DRAWING = "duplicate_drawing"
    LAYER_SKIPPED = "layer_skipped"
    CRS_OVERRIDDEN = "crs_overridden"
    CRS_TRANSFORMED = "crs_transformed"
    CRS_INFERRED = "crs_inferred"
    # Geometry of one parcel.
    SELF_INTERSECTION = "self_intersection"
    SPIKE = "spike"
    HOLE_OUTSIDE_SHELL = "hole_outside_shell"
    NESTED_HOLES = "nested_holes"
    NESTED_SHELLS = "nested_shells"
    INTERIOR_DISCONNECTED = "interior_disconnected"
    INVALID_COORDINATE = "invalid_coordinate"
    INVALID_GEOMETRY = "invalid_geometry"
    DUPLICATE_POINT = "duplicate_point"
    AREA_MISMATCH = "area_mismatch"
    AREA_TOO_SMALL = "area_too_small"
    AREA_TOO_LARGE = "area_too_large"
    DECLARED_AREA_INVALID = "declared_area_invalid"
    # Coordinates against their CRS (spatial.domain).
    COORDINATES_OUTSIDE_CRS = "coordinates_outside_crs"
    AXES_SWAPPED = "axes_swapped"
    ZONE_PREFIX_MISSING = "zone_prefix_missing"
    ZONE_PREFIX_UNEXPECTED = "zone_prefix_unexpected"
    INVALID_AFTER_TRANSFORM = "invalid_after_transform"
    # Attributes of one parcel.
    PARCEL_CODE_MALFORMED = "parcel_code_malformed"
    PARCEL_CODE_MISSING = "parcel_code_missing"
    PARCEL_CODE_DUPLICATE = "parcel_code_duplicate"
    # Between parcels of the same upload.
    OVERLAP = "overlap"
    GAP = "gap"
    # Reserved for the portal's validation against the cadastre (not produced by this package).
    OVERLAP_EXISTING = "overlap_existing"
    PARCEL_CODE_TAKEN = "parcel_code_taken"
    OUTSIDE_ADMIN_AREA = "outside_admin_area"
    OUTSIDE_CADASTRE = "outside_cadastre"
    LAND_USE_UNKNOWN = "land_use_unknown"
    RETIRED_PARCEL_UNKNOWN = "retired_parcel_unknown"
    RETIRED_PARCEL_HAS_UNITS = "retired_parcel_has_units"
    COVERAGE_MISMATCH = "coverage_mismatch"
    PURPOSE_MISMATCH = "purpose_mismatch"


@dataclass(slots=True)
class Issue:
    """One problem, with enough context for a person to find it and a program to sort it.

    `parcel_index` is the position in the upload's parcel list (None for file-level issues
    such as a skipped layer); `place` is where in the file (``line 12``, ``feature 3``);
    `location` is WKT of the fault (a point or the overlap polygon) in the delivered CRS.
    """

    severity: Severity
    code: str
    message: str
    parcel_index: int | None = None
    place: str | None = None
    location: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (details must already hold plain values)."""
        return {
            "severity": self.severity,
            "code": str(self.code),
            "message": self.message,
            "parcel_index": self.parcel_index,
            "where": self.place,
            "location": self.location,
            "details": dict(self.details),
        }


@dataclass(slots=True)
class ValidationReport:
    """All issues of one upload; any error blocks publication, warnings only inform."""

    file: str | None
    crs: int | None
    parcel_count: int
    issues: list[Issue] = field(default_factory=list)
    crs_source: str | None = None
    """How the CRS was decided (`spatial.model.CrsSource`): ``file``, ``zone_prefix``, ``uploader``."""
    crs_name: str | None = None
    """The CRS's name as EPSG gives it, e.g. ``CGCS2000 / 3-degree Gauss-Kruger zone 40``."""

    def crs_line(self) -> str:
        """The CRS used and how it was decided, in a sentence (English; the pages translate it)."""
        if self.crs is None:
            return "no coordinate reference system"
        how = {"file": "stated in the file", "zone_prefix": "inferred from the zone prefix of the eastings",
               "uploader": "given by the uploader"}.get(self.crs_source or "", "")
        name = f" ({self.crs_name})" if self.crs_name else ""
        return f"EPSG:{self.crs}{name}" + (f", {how}" if how else "")

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if not i.is_error]

    @property
    def error_count(self) -> int:
        return sum(1 for i in self.issues if i.is_error)

    @property
    def warning_count(self) -> int:
        return len(self.issues) - self.error_count

    @property
    def blocks_publication(self) -> bool:
        return self.error_count > 0

    def extend(self, issues: Iterable[Issue]) -> None:
        """Add issues found elsewhere, e.g. by the portal's validation against the cadastre."""
        self.issues.extend(issues)

    def for_parcel(self, index: int) -> list[Issue]:
        return [i for i in self.issues if i.parcel_index == index]

    def codes(self) -> set[str]:
        return {str(i.code) for i in self.issues}

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "crs": self.crs,
            "crs_source": self.crs_source,
            "crs_name": self.crs_name,
            "parcel_count": self.parcel_count,
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "blocks_publication": self.blocks_publication,
            "issues": [i.to_dict() for i in self.issues],
        }
