"""Real files from other cadastres (shared/fixtures/external): each is read or refused clearly.

The fixtures are shared and must never change: a module fixture fingerprints the whole
folder before and after (GDAL likes to write .gfs files next to GML).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from spatial.errors import CrsError, SpatialError, UnsupportedFormatError
from spatial.readers import read_parcels
from spatial.validation import validate_result

ROOT = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "external"
if not ROOT.is_dir():  # the checkout may sit elsewhere than beside shared/
    ROOT = Path("/work/shared/fixtures/external")

pytestmark = pytest.mark.skipif(not ROOT.is_dir(), reason="shared fixtures not available")

ALL_FILES = sorted(p for p in ROOT.rglob("*") if p.is_file()) if ROOT.is_dir() else []

EXPECTED_PARCELS = {
    "es-catastro-inspire/catatom2osm_38012_parcel.gpkg": (186, 32628),
    "es-catastro-inspire/catatom2osm_38012_zoning.gml": (241, 32628),
    "es-catastro-inspire/generador-gml_test_wfs_11039.gml": (30, 25830),
    "fr-dgfip-edigeo/edigeo-130290000A01.tar.bz2": (389, 2154),
    "fr-dgfip-edigeo/edigeo-25354000AB01.tar.bz2": (14, 2154),
    "fr-dgfip-edigeo/edigeo-25354000AK01.tar.bz2": (142, 2154),
    "fr-dgfip-edigeo/edigeo-25354000ZB01.tar.bz2": (68, 2154),
    "fr-dgfip-edigeo/edigeo-25354000ZC01.tar.bz2": (78, 2154),
    "fr-dgfip-edigeo/edigeo-25354000ZD01.tar.bz2": (22, 2154),
    "fr-dgfip-edigeo/edigeo-25354000ZE01.tar.bz2": (61, 2154),
    "fr-dgfip-edigeo/edigeo-25354000ZH01.tar.bz2": (80, 2154),
    "fr-dgfip-edigeo/edigeo-25354000ZI01.tar.bz2": (46, 2154),
    "fr-etalab-cadastre/cadastre-75118-parcelles.json": (6821, 4326),
    "fr-etalab-cadastre/cadastre-91216-parcelles.json": (4241, 4326),
}


def _fingerprint() -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(ROOT)): (p.stat().st_size, hashlib.sha1(p.read_bytes()).hexdigest())
        for p in sorted(ROOT.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module", autouse=True)
def fixtures_stay_untouched() -> Iterator[None]:
    before = _fingerprint()
    yield
    assert _fingerprint() == before


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_fixture_is_read_or_refused_clearly(path: Path) -> None:
    try:
        result = read_parcels(path)
    except SpatialError as exc:
        assert str(exc).startswith(path.name), str(exc)
        assert "internal error" not in str(exc)
        return
    report = validate_result(result)
    json.dumps(report.to_dict())
    assert report.parcel_count == len(result.parcels) > 0


@pytest.mark.parametrize("relative", sorted(EXPECTED_PARCELS))
def test_parcel_counts_and_crs(relative: str) -> None:
    count, crs = EXPECTED_PARCELS[relative]
    result = read_parcels(ROOT / relative)
    assert (len(result.parcels), result.crs) == (count, crs)
    assert all(p.crs == crs for p in result.parcels)


def test_inspire_fields_are_mapped() -> None:
    result = read_parcels(ROOT / "es-catastro-inspire/generador-gml_test_wfs_11039.gml")
    first = result.parcels[0]
    assert first.parcel_code == "11039A02800003"
    assert first.declared_area == 40815.0
    assert first.name == "00003"
    # Spanish references are not Chinese parcel codes: validation says so, without crashing.
    assert "parcel_code_malformed" in validate_result(result).codes()


def test_etalab_contenance_and_lon_lat() -> None:
    result = read_parcels(ROOT / "fr-etalab-cadastre/cadastre-91216-parcelles.json")
    assert sum(p.declared_area is None for p in result.parcels) == 1  # contenance: null
    assert result.parcels[0].parcel_code == "91216000AB0037"
    minx, miny, _, _ = result.parcels[0].geometry.bounds
    assert 2.29 < minx < 2.35 and 48.6 < miny < 48.7  # x is longitude


def test_edigeo_fields() -> None:
    result = read_parcels(ROOT / "fr-dgfip-edigeo/edigeo-25354000ZC01.tar.bz2")
    assert result.format == "edigeo"
    first = result.parcels[0]
    assert (first.parcel_code, first.declared_area, first.name) == ("354000ZC0053", 75660.0, "53")


def test_hatch_only_dxf_needs_a_stated_crs() -> None:
    path = ROOT / "es-dxf-parcel/parcelacad.dxf"
    with pytest.raises(CrsError, match="uploader must state the CRS"):
        read_parcels(path)
    (parcel,) = read_parcels(path, crs=25830).parcels
    assert parcel.geometry.area == pytest.approx(7047, abs=1)
    assert parcel.place.startswith("entity HATCH #")


def test_interlis_is_refused_with_a_reason() -> None:
    with pytest.raises(UnsupportedFormatError, match="INTERLIS transfer files"):
        read_parcels(ROOT / "co-ladm-col-xtf/test_ladm_col_queries_v1_2.xtf")
