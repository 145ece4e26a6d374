"""The error hierarchy and its messages: a surveyor reads these."""

from __future__ import annotations

import pickle

import pytest

from spatial.errors import CrsError, ReadError, SpatialError, UnsupportedFormatError


def test_message_names_file_line_and_field() -> None:
    err = ReadError("'4O438683.652' is not a number", file="parcels.txt", line=12, field="Y")
    assert str(err) == "parcels.txt, line 12, field Y: '4O438683.652' is not a number"
    assert err.place == "line 12, field Y"


def test_message_with_feature_and_without_place() -> None:
    err = SpatialError("no geometry", file="a.geojson", feature="feature 3")
    assert str(err) == "a.geojson, feature 3: no geometry"
    assert str(SpatialError("plain")) == "plain"


def test_hierarchy_is_value_error() -> None:
    assert issubclass(ReadError, SpatialError)
    assert issubclass(UnsupportedFormatError, ReadError)
    assert issubclass(CrsError, SpatialError)
    assert issubclass(SpatialError, ValueError)
    with pytest.raises(ValueError):
        raise CrsError("x")


def test_errors_survive_pickling() -> None:
    err = CrsError("zone unknown", file="a.txt", line=9, field="带号")
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is CrsError
    assert str(copy) == str(err)


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path) -> None:
    import zipfile

    from spatial.errors import ReadError
    from spatial.readers import read_parcels

    bomb = tmp_path / "parcels.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("parcels.shp", b"\0" * (40 * 1024**2))
        archive.writestr("parcels.prj", b'GEOGCS["CGCS2000"]')
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ReadError, match="decompression bomb") as refused:
        read_parcels(bomb)
    assert refused.value.file == "parcels.zip" and refused.value.feature == "parcels.shp"
