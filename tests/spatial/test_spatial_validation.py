"""Geometric validation: one test per issue code, with the place and location of the fault."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from spatial_factories import CODE1, CODE2, CODE3, E0, N0, square

from spatial.model import ReadResult, SurveyedParcel
from spatial.report import Issue, IssueCode, ValidationReport
from spatial.validation import ValidationRules, validate, validate_result


def parcel(
    geometry: Polygon | MultiPolygon,
    code: str | None = CODE1,
    area: float | None = None,
    crs: int = 4528,
    place: str = "feature 1",
) -> SurveyedParcel:
    return SurveyedParcel(geometry, crs, place, parcel_code=code, declared_area=area)


def codes(report: ValidationReport) -> list[str]:
    return [str(i.code) for i in report.issues]


def test_clean_upload_has_no_issue() -> None:
    a = parcel(Polygon(square(E0, N0, 20)), CODE1, 400.0)
    b = parcel(Polygon(square(E0 + 20, N0, 20)), CODE2, 400.4, place="feature 2")
    report = validate([a, b])
    assert report.issues == [] and not report.blocks_publication
    assert report.crs == 4528 and report.parcel_count == 2


def test_bow_tie_reports_the_crossing_point() -> None:
    bow_tie = Polygon([(E0, N0), (E0 + 10, N0 + 10), (E0 + 10, N0), (E0, N0 + 10)])
    report = validate([parcel(bow_tie)])
    (issue,) = report.errors
    assert issue.code == "self_intersection"
    assert issue.parcel_index == 0 and issue.place == "feature 1"
    assert shapely.from_wkt(issue.location).equals(Point(E0 + 5, N0 + 5))  # type: ignore[arg-type]
    assert report.blocks_publication


def test_spike_is_named_with_its_tip() -> None:
    spiky = Polygon(
        [
            (E0, N0),
            (E0 + 10, N0),
            (E0 + 10, N0 + 10),
            (E0 + 5, N0 + 10),
            (E0 + 5, N0 + 20),
            (E0 + 5, N0 + 10),
            (E0, N0 + 10),
        ]
    )
    (issue,) = validate([parcel(spiky)]).errors
    assert issue.code == "spike"
    assert shapely.from_wkt(issue.location).equals(Point(E0 + 5, N0 + 20))  # type: ignore[arg-type]


def test_hole_outside_shell() -> None:
    outside = Polygon(square(E0, N0, 10), [square(E0 + 20, N0, 5)])
    (issue,) = validate([parcel(outside)]).errors
    assert issue.code == "hole_outside_shell"
    assert issue.location is not None and issue.location.startswith("POINT")


def test_too_few_points_and_duplicates() -> None:
    flat = Polygon([(E0, N0), (E0 + 10, N0), (E0 + 10, N0), (E0, N0)])
    report = validate([parcel(flat)])
    assert "too_few_points" in [i.code for i in report.errors]
    doubled = Polygon([(E0, N0), (E0 + 20, N0), (E0 + 20, N0), (E0 + 20, N0 + 20), (E0, N0 + 20)])
    report = validate([parcel(doubled, area=400.0)])
    (issue,) = report.issues
    assert (issue.code, issue.severity, issue.details) == (
        "duplicate_point",
        "warning",
        {"count": 1},
    )
    assert shapely.from_wkt(issue.location).equals(Point(E0 + 20, N0))  # type: ignore[arg-type]


def test_reader_warnings_are_carried_with_their_parcel() -> None:
    p = parcel(Polygon(square(E0, N0, 20)), area=400.0, place="line 13")
    p.warnings.append(
        Issue("warning", IssueCode.UNCLOSED_RING, "ring 1 was closed", place="line 14")
    )
    file_issue = Issue("warning", IssueCode.LINE_IGNORED, "line ignored", place="line 30")
    report = validate_result(ReadResult("a.txt", 4528, [p], [file_issue], "exchange"))
    assert [(i.code, i.parcel_index, i.place) for i in report.issues] == [
        ("line_ignored", None, "line 30"),
        ("unclosed_ring", 0, "line 14"),
    ]
    assert report.file == "a.txt"


def test_area_tolerance_rule() -> None:
    rules = ValidationRules()
    assert rules.area_tolerance(100) == 1.0  # absolute minimum
    assert rules.area_tolerance(10_000) == pytest.approx(10.0)  # 2 x 0.05 x sqrt(S)
    assert ValidationRules(area_rel_tolerance=0.01).area_tolerance(1e6) == pytest.approx(10_000)


@pytest.mark.parametrize(
    ("declared", "flagged"), [(400.0, False), (409.0, True), (391.0, True), (401.9, False)]
)
def test_area_mismatch_in_projected_crs(declared: float, flagged: bool) -> None:
    report = validate([parcel(Polygon(square(E0, N0, 20)), area=declared)])
    assert ("area_mismatch" in codes(report)) is flagged
    if flagged:
        (issue,) = report.issues
        assert issue.details["measured_m2"] == pytest.approx(400)
        assert issue.details["declared_m2"] == declared
        assert issue.severity == "error"


def test_area_mismatch_uses_the_ellipsoid_for_lon_lat() -> None:
    lonlat = Polygon([(120.0, 30.0), (120.001, 30.0), (120.001, 30.001), (120.0, 30.001)])
    true_area = abs(shapely.area(lonlat))  # degrees², meaningless: ~1e-6
    assert true_area < 1
    ok = validate([parcel(lonlat, area=10_703.0, crs=4490)])
    assert "area_mismatch" not in codes(ok), ok.to_dict()
    bad = validate([parcel(lonlat, area=12_000.0, crs=4490)])
    assert "area_mismatch" in codes(bad)


def test_parcel_codes() -> None:
    shapes = [Polygon(square(E0 + 30 * k, N0, 20)) for k in range(4)]
    parcels = [
        parcel(shapes[0], "330102001001GB0000X", place="feature 1"),
        parcel(shapes[1], None, place="feature 2"),
        parcel(shapes[2], CODE3, place="feature 3"),
        parcel(shapes[3], " 330102001001gb00003", place="feature 4"),  # same code, other spelling
    ]
    report = validate(parcels)
    assert [(i.code, i.parcel_index, i.severity) for i in report.issues] == [
        ("parcel_code_malformed", 0, "error"),
        ("parcel_code_missing", 1, "warning"),
        ("parcel_code_duplicate", 3, "error"),
    ]
    assert "positions 15-19" in report.issues[0].message
    strict = validate(parcels, ValidationRules(require_parcel_code=True))
    assert strict.issues[1].severity == "error"


def test_overlap_reports_area_and_geometry() -> None:
    a = parcel(Polygon(square(E0, N0, 20)), CODE1)
    b = parcel(Polygon(square(E0 + 18, N0, 20)), CODE2, place="feature 2")
    report = validate([a, b])
    (issue,) = report.errors
    assert issue.code == "overlap" and issue.parcel_index == 0
    assert issue.details["other_parcel_index"] == 1 and issue.details["other_where"] == "feature 2"
    assert issue.details["area_m2"] == pytest.approx(40.0)
    assert shapely.from_wkt(issue.location).equals(
        Polygon(square(E0 + 18, N0, 2)).union(  # type: ignore[arg-type]
            Polygon([(E0 + 18, N0 + 2), (E0 + 20, N0 + 2), (E0 + 20, N0 + 20), (E0 + 18, N0 + 20)])
        )
    )


def test_contained_parcel_is_an_overlap_and_tiny_overlaps_are_tolerated() -> None:
    outer = parcel(Polygon(square(E0, N0, 20)), CODE1)
    inner = parcel(Polygon(square(E0 + 5, N0 + 5, 2)), CODE2, place="feature 2")
    assert codes(validate([outer, inner])) == ["overlap"]
    sliver = parcel(Polygon(square(E0 + 19.9999, N0, 20)), CODE2, place="feature 2")
    assert validate([outer, sliver]).issues == []  # 0.002 m² is under the 0.01 m² tolerance
    assert codes(validate([outer, sliver], ValidationRules(overlap_tolerance_m2=0.0001))) == [
        "overlap"
    ]


def test_sliver_gap_between_neighbours() -> None:
    a = parcel(Polygon(square(E0, N0, 20)), CODE1)
    # The neighbour's left edge leans away: 0 at the bottom corner, 3 cm at the top.
    b = parcel(
        Polygon([(E0 + 20, N0), (E0 + 40, N0), (E0 + 40, N0 + 20), (E0 + 20.03, N0 + 20)]),
        CODE2,
        place="feature 2",
    )
    report = validate([a, b])
    (issue,) = report.issues
    assert (issue.code, issue.severity, issue.parcel_index) == ("gap", "warning", 0)
    assert issue.details["width_m"] == pytest.approx(0.03, abs=1e-3)
    assert issue.details["area_m2"] == pytest.approx(0.3, rel=0.05)  # 20 m x 3 cm / 2
    assert shapely.from_wkt(issue.location).geom_type == "Polygon"  # type: ignore[union-attr]
    # A 2 m wide path between parcels is not a sliver.
    c = parcel(Polygon(square(E0 + 22, N0, 20)), CODE2, place="feature 2")
    assert validate([a, c]).issues == []
    assert validate([a, b], ValidationRules(gap_width_m=0.01)).issues == []


def test_gap_in_geographic_crs() -> None:
    a = parcel(
        Polygon([(120.0, 30.0), (120.001, 30.0), (120.001, 30.001), (120.0, 30.001)]),
        CODE1,
        crs=4490,
    )
    b = parcel(
        Polygon([(120.0010003, 30.0), (120.002, 30.0), (120.002, 30.001), (120.0010003, 30.001)]),
        CODE2,
        crs=4490,
    )
    assert codes(validate([a, b])) == ["gap"]


def test_empty_and_non_polygon() -> None:
    report = validate([parcel(Polygon())])
    assert codes(report) == ["empty"]
    odd = SurveyedParcel(Point(1, 2), 4528, "feature 1", parcel_code=CODE1)  # type: ignore[arg-type]
    assert codes(validate([odd])) == ["not_polygon"]
    nothing = validate([], file="a.txt")
    assert codes(nothing) == ["empty"] and nothing.blocks_publication


def test_multipolygon_parcels_are_validated_part_by_part() -> None:
    two = MultiPolygon([Polygon(square(E0, N0, 10)), Polygon(square(E0 + 50, N0, 10))])
    assert validate([parcel(two, area=200.0)]).issues == []
    nested = MultiPolygon([Polygon(square(E0, N0, 10)), Polygon(square(E0 + 2, N0 + 2, 2))])
    assert codes(validate([parcel(nested)])) == ["nested_shells"]


def test_extra_rules_add_issues_of_the_same_shape() -> None:
    def taken(parcels: Sequence[SurveyedParcel], rules: ValidationRules) -> list[Issue]:
        return [
            Issue("error", IssueCode.PARCEL_CODE_TAKEN, "already registered", 0, parcels[0].place)
        ]

    report = validate([parcel(Polygon(square(E0, N0, 20)))], extra_rules=[taken])
    assert codes(report) == ["parcel_code_taken"]
    report.extend([Issue("warning", IssueCode.OUTSIDE_ADMIN_AREA, "near the border", 0)])
    assert report.error_count == 1 and report.warning_count == 1


def test_report_serialises_to_json() -> None:
    bow_tie = Polygon([(E0, N0), (E0 + 10, N0 + 10), (E0 + 10, N0), (E0, N0 + 10)])
    report = validate(
        [parcel(bow_tie, area=50.0), parcel(Polygon(square(E0 + 5, N0, 20)), CODE2)], file="x.txt"
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert data["file"] == "x.txt" and data["crs"] == 4528
    assert data["blocks_publication"] is True
    assert data["error_count"] == report.error_count
    assert {i["code"] for i in data["issues"]} >= {"self_intersection"}
    assert set(data["issues"][0]) == {
        "severity",
        "code",
        "message",
        "parcel_index",
        "where",
        "location",
        "details",
    }
