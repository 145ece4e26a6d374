"""The package's public surface: every name in __all__ exists, dispatch and its safety net."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from spatial import readers
from spatial.errors import CrsError, ReadError, UnsupportedFormatError
from spatial.readers import detect_reader, read_parcels

MODULES = [
    "spatial.errors",
    "spatial.model",
    "spatial.report",
    "spatial.crs",
    "spatial.validation",
    "spatial.topology",
    "spatial.readers",
    "spatial.readers.exchange",
    "spatial.readers.dxf",
    "spatial.readers.gis",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    for member in module.__all__:
        assert hasattr(module, member), f"{name}.{member}"


@pytest.mark.parametrize(
    ("content", "filename", "reader"),
    [
        (
            b"[\xe5\x9c\xb0\xe5\x9d\x97\xe5\x9d\x90\xe6\xa0\x87]\n",
            "a.dat",
            "exchange",
        ),  # [地块坐标]
        ("[地块坐标]\n".encode("gbk"), "a.dat", "exchange"),
        (b"0\nSECTION\n2\nHEADER\n", "a.dat", "dxf"),
        (b"999\ncomment\n  0\r\nSECTION\r\n", "a.dat", "dxf"),
        (b'{"type": "FeatureCollection"}', "a.txt", "gis"),
        (b"<?xml version='1.0'?><x/>", "a.dat", "gis"),
        (b"PK\x03\x04rest", "a.txt", "gis"),
        (b"SQLite format 3\x00", "a.dat", "gis"),
        (b"5,0.1,code\n", "a.txt", "exchange"),
        (b"whatever", "a.dxf", "dxf"),
        (b"whatever", "a.gpkg", "gis"),
    ],
)
def test_content_decides_then_extension(
    tmp_path: Path, content: bytes, filename: str, reader: str
) -> None:
    path = tmp_path / "upload"
    path.write_bytes(content)
    assert detect_reader(path, filename=filename) == reader


def test_empty_missing_and_unknown_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"  \n")
    with pytest.raises(ReadError, match="^empty.txt: the file is empty$"):
        read_parcels(empty)
    with pytest.raises(ReadError, match="^gone.txt: cannot be opened"):
        read_parcels(tmp_path / "gone.txt")
    odd = tmp_path / "notes.docx"
    odd.write_bytes(b"\x00\x00binary")
    with pytest.raises(UnsupportedFormatError, match="accepted: boundary-point exchange file"):
        read_parcels(odd)


def test_reader_bugs_become_read_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(readers, "read_gis", broken)
    path = tmp_path / "a.geojson"
    path.write_text("{}")
    with pytest.raises(
        ReadError, match="^a.geojson: internal error while reading the file \\(KeyError\\)"
    ):
        read_parcels(path)


def test_unknown_crs_argument(tmp_path: Path) -> None:
    path = tmp_path / "a.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(CrsError, match="^a.geojson: EPSG:999999 is not a known"):
        read_parcels(path, crs=999999)
