"""Georeferencing by control points: each transformation recovers a known one, says when it has
too few points or a degenerate arrangement, and gives residuals in metres, RMS and the worst point."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spatial.georeference import (
    MIN_POINTS,
    ControlPoint,
    GeoreferenceError,
    Transformation,
    fit,
    tolerance_for_scale,
)

E0, N0 = 40_515_000.0, 3_345_000.0  # Gauss-Krüger zone 40 (EPSG:4528), Hangzhou


def known(kind: Transformation):  # type: ignore[no-untyped-def]
    """A pixel -> map function of the kind (0.05 m per pixel, turned by 3 degrees)."""
    angle, m = np.radians(3.0), 0.05

    def similarity(c, r):  # type: ignore[no-untyped-def]
        u, v = c, -r
        return E0 + m * (np.cos(angle) * u - np.sin(angle) * v), N0 + m * (np.sin(angle) * u + np.cos(angle) * v)

    def affine(c, r):  # type: ignore[no-untyped-def]
        x, y = similarity(c, r)
        return x + 0.002 * c, y - 0.001 * r

    def projective(c, r):  # type: ignore[no-untyped-def]
        w = 1 + 2e-6 * c - 1e-6 * r
        x, y = similarity(c, r)
        return E0 + (x - E0) / w, N0 + (y - N0) / w

    def polynomial2(c, r):  # type: ignore[no-untyped-def]
        x, y = affine(c, r)
        return x + 2e-7 * c * c, y + 1e-7 * c * r

    return {"similarity": similarity, "affine": affine, "projective": projective, "polynomial2": polynomial2}[kind]


def points_for(kind: Transformation, count: int = 12, noise: float = 0.0, seed: int = 1) -> list[ControlPoint]:
    rng = np.random.default_rng(seed)
    f = known(kind)
    out = []
    for i in range(count):
        c, r = rng.uniform(0, 8000), rng.uniform(0, 6000)
        x, y = f(c, r)
        out.append(ControlPoint(c, r, x + rng.normal(0, noise), y + rng.normal(0, noise), f"J{i + 1}"))
    return out


@pytest.mark.parametrize("kind", list(Transformation))
def test_each_transformation_recovers_a_known_one_exactly(kind: Transformation) -> None:
    found = fit(points_for(kind), kind)
    assert found.rms < 1e-6
    check = np.array([[100.0, 200.0], [7000.0, 5500.0], [4000.0, 3000.0]])
    expected = np.column_stack(known(kind)(check[:, 0], check[:, 1]))
    assert np.max(np.abs(found.apply(check) - expected)) < 1e-5


@pytest.mark.parametrize("kind", list(Transformation))
def test_too_few_points_are_refused_naming_the_minimum(kind: Transformation) -> None:
    with pytest.raises(GeoreferenceError, match=f"at least {MIN_POINTS[kind]} control points"):
        fit(points_for(kind, MIN_POINTS[kind] - 1), kind)
    exact = fit(points_for(kind, MIN_POINTS[kind]), kind)  # no redundancy: nothing checked
    assert exact.rms < 1e-5


def test_points_on_one_line_are_refused() -> None:
    line = [ControlPoint(i * 100.0, i * 50.0, E0 + i, N0 + i, str(i)) for i in range(5)]
    with pytest.raises(GeoreferenceError, match="one line"):
        fit(line, "affine")
    with pytest.raises(GeoreferenceError, match="not one of"):
        fit(line, "rubber-sheet")


def test_residuals_are_in_metres_and_the_worst_point_is_named() -> None:
    points = points_for(Transformation.AFFINE, 10)
    blunder = points[4]
    points[4] = ControlPoint(blunder.column, blunder.row, blunder.easting + 1.5, blunder.northing, blunder.label)
    found = fit(points, "affine")
    assert found.worst == 4 and found.residuals[4].label == "J5"
    assert found.residuals[4].distance == max(r.distance for r in found.residuals)
    assert 0.5 < found.residuals[4].distance < 1.5
    assert found.rms == pytest.approx(np.sqrt(np.mean([r.distance ** 2 for r in found.residuals])))
    assert not found.within(tolerance_for_scale(500))
    assert tolerance_for_scale(500) == pytest.approx(0.25)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(list(Transformation)), st.integers(0, 10_000))
def test_noise_of_a_centimetre_gives_an_rms_of_about_a_centimetre(kind: Transformation, seed: int) -> None:
    found = fit(points_for(kind, 20, noise=0.01, seed=seed), kind)
    assert found.rms < 0.03
