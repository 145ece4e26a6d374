"""Parcels drawn in CAD: polylines, hatches, labels, block attributes, boundary points."""

from __future__ import annotations

import math
from pathlib import Path

import ezdxf
import pytest
from ezdxf.document import Drawing
from shapely.geometry import Polygon
from spatial_factories import CODE1, CODE2, CODE3, square

from spatial.errors import CrsError, ReadError
from spatial.readers import detect_reader, read_parcels
from spatial.readers.dxf import DxfOptions, read_dxf
from spatial.validation import validate_result

E, N = 40438000.0, 3351000.0


def new_drawing() -> Drawing:
    doc = ezdxf.new("R2010")
    for layer in ("ZD", "TEXT", "ROAD"):
        doc.layers.add(layer)
    block = doc.blocks.new("ZDH")
    block.add_circle((0, 0), 0.5)
    block.add_attdef("ZDDM", (0, 0))
    block.add_attdef("MJ", (0, -1))
    block.add_attdef("DLBM", (0, -2))
    point_block = doc.blocks.new("JZD")
    point_block.add_circle((0, 0), 0.2)
    point_block.add_attdef("JZDH", (0.3, 0))
    return doc


def save(doc: Drawing, path: Path) -> Path:
    doc.saveas(path)
    return path


def test_polyline_hatch_text_and_block_attributes(tmp_path: Path) -> None:
    doc = new_drawing()
    msp = doc.modelspace()
    msp.add_lwpolyline(square(E, N, 20), close=True, dxfattribs={"layer": "ZD"})
    msp.add_text(CODE1, dxfattribs={"insert": (E + 2, N + 10), "layer": "TEXT"})
    msp.add_text("某宗地", dxfattribs={"insert": (E + 2, N + 5), "layer": "TEXT"})
    msp.add_text("400.00", dxfattribs={"insert": (E + 2, N + 3), "layer": "TEXT"})  # area note
    hatch = msp.add_hatch(dxfattribs={"layer": "ZD"})
    hatch.paths.add_polyline_path(square(E + 20, N, 20), is_closed=True)
    hatch.paths.add_polyline_path(square(E + 25, N + 5, 5), is_closed=True)
    insert = msp.add_blockref("ZDH", (E + 22, N + 2), dxfattribs={"layer": "TEXT"})
    insert.add_auto_attribs({"ZDDM": CODE2, "MJ": "375", "DLBM": "0702"})
    for i, (x, y) in enumerate(square(E, N, 20), start=1):
        msp.add_point((x, y))
        msp.add_text(f"J{i}", dxfattribs={"insert": (x + 0.5, y + 0.5)})
    path = save(doc, tmp_path / "parcels.dxf")

    result = read_parcels(path)
    assert result.format == "dxf"
    assert result.crs == 4528  # inferred from the zone prefix of the eastings
    assert [i.code for i in result.issues] == ["crs_inferred"]
    first, second = result.parcels
    assert first.parcel_code == CODE1 and first.name == "某宗地"
    assert first.place.startswith("entity LWPOLYLINE #") and first.place.endswith("(layer ZD)")
    assert first.geometry.area == pytest.approx(400)
    assert [(p.name, p.x, p.y) for p in first.boundary_points] == [
        (f"J{i}", x, y) for i, (x, y) in enumerate(square(E, N, 20), start=1)
    ]
    assert second.place.startswith("entity HATCH #")
    assert (second.parcel_code, second.declared_area, second.land_use_code) == (
        CODE2,
        375.0,
        "0702",
    )
    assert isinstance(second.geometry, Polygon) and len(second.geometry.interiors) == 1
    assert second.geometry.area == pytest.approx(375)
    report = validate_result(result)
    assert not report.blocks_publication, report.to_dict()


def test_bulges_are_flattened(tmp_path: Path) -> None:
    doc = new_drawing()
    # A 20 x 10 rectangle whose top edge is a half circle bulging outwards (bulge 1 = 180°).
    points = [(E, N, 0, 0, 0), (E + 20, N, 0, 0, 1), (E, N, 0, 0, 0)]
    points = [
        (E, N, 0, 0, 0),
        (E + 20, N, 0, 0, 0),
        (E + 20, N + 10, 0, 0, 1),
        (E, N + 10, 0, 0, 0),
    ]
    doc.modelspace().add_lwpolyline(points, format="xyseb", close=True)
    (parcel,) = read_dxf(save(doc, tmp_path / "arc.dxf"), crs=4528).parcels
    expected = 200 + math.pi * 10**2 / 2
    assert parcel.geometry.area == pytest.approx(expected, rel=1e-3)
    assert len(parcel.geometry.exterior.coords) > 20  # type: ignore[union-attr]


def test_enclaves_and_unlabelled_holes(tmp_path: Path) -> None:
    doc = new_drawing()
    msp = doc.modelspace()
    msp.add_lwpolyline(square(E, N, 100), close=True)
    msp.add_text(CODE1, dxfattribs={"insert": (E + 5, N + 5)})
    msp.add_lwpolyline(square(E + 20, N + 20, 10), close=True)  # labelled enclave
    msp.add_text(CODE2, dxfattribs={"insert": (E + 22, N + 22)})
    msp.add_lwpolyline(square(E + 60, N + 60, 10), close=True)  # unlabelled: a hole
    result = read_dxf(save(doc, tmp_path / "enclave.dxf"))
    outer, enclave = result.parcels
    assert outer.parcel_code == CODE1 and enclave.parcel_code == CODE2
    assert len(outer.geometry.interiors) == 2  # type: ignore[union-attr]
    assert outer.geometry.area == pytest.approx(10000 - 200)
    assert sorted(i.code for i in outer.warnings) == ["ring_nesting", "ring_nesting"]
    assert not validate_result(result).blocks_publication


def test_outline_drawn_twice_is_read_once(tmp_path: Path) -> None:
    doc = new_drawing()
    msp = doc.modelspace()
    msp.add_lwpolyline(square(E, N, 20), close=True)
    hatch = msp.add_hatch()
    hatch.paths.add_polyline_path(list(reversed(square(E, N, 20))), is_closed=True)
    msp.add_text(CODE1, dxfattribs={"insert": (E + 5, N + 5)})
    result = read_dxf(save(doc, tmp_path / "twice.dxf"))
    assert len(result.parcels) == 1
    assert "duplicate_drawing" in [i.code for i in result.issues]


def test_layer_filter_and_open_polylines(tmp_path: Path) -> None:
    doc = new_drawing()
    msp = doc.modelspace()
    msp.add_lwpolyline(square(E, N, 20), close=True, dxfattribs={"layer": "ZD"})
    msp.add_lwpolyline(square(E + 50, N, 20), close=True, dxfattribs={"layer": "ROAD"})
    msp.add_lwpolyline(square(E + 100, N, 20), dxfattribs={"layer": "ZD"})  # open, far ends
    nearly = square(E + 200, N, 20) + [(E + 200.01, N)]
    msp.add_lwpolyline(nearly, dxfattribs={"layer": "ZD"})  # ends 1 cm apart
    path = save(doc, tmp_path / "layers.dxf")
    everything = read_dxf(path)
    assert len(everything.parcels) == 3
    only_zd = read_parcels(path, layers=["zd"])
    assert [p.geometry.bounds[0] for p in only_zd.parcels] == [E, E + 200]
    assert [i.code for i in only_zd.issues if i.code == "unclosed_ring"] == ["unclosed_ring"]
    assert [i.code for i in only_zd.parcels[1].warnings] == ["unclosed_ring"]
    with pytest.raises(ReadError, match="no parcel outline on layers NOPE"):
        read_parcels(path, layers=["NOPE"])


def test_polyline_entity_mtext_and_several_codes(tmp_path: Path) -> None:
    doc = new_drawing()
    msp = doc.modelspace()
    msp.add_polyline2d(square(E, N, 20), close=True)
    msp.add_mtext(f"{CODE3}\\P某单位", dxfattribs={"insert": (E + 5, N + 15)})
    msp.add_text(CODE2, dxfattribs={"insert": (E + 5, N + 5)})
    (parcel,) = read_dxf(save(doc, tmp_path / "mtext.dxf")).parcels
    assert parcel.place.startswith("entity POLYLINE #")
    assert parcel.parcel_code in (CODE2, CODE3)
    assert parcel.name == "某单位"
    assert [i.code for i in parcel.warnings] == ["multiple_labels"]


def test_boundary_point_blocks(tmp_path: Path) -> None:
    doc = new_drawing()
    msp = doc.modelspace()
    msp.add_lwpolyline(square(E, N, 20), close=True)
    for i, (x, y) in enumerate(square(E, N, 20), start=1):
        ref = msp.add_blockref("JZD", (x + 0.001, y))
        ref.add_auto_attribs({"JZDH": f"J{i}"})
    msp.add_point((E + 10, N + 10))  # not on a vertex
    (parcel,) = read_dxf(
        save(doc, tmp_path / "points.dxf"), options=DxfOptions(point_tolerance=0.01)
    ).parcels
    assert [p.name for p in parcel.boundary_points] == ["J1", "J2", "J3", "J4"]


def test_malformed_code_like_text_is_kept_for_validation(tmp_path: Path) -> None:
    doc = new_drawing()
    doc.modelspace().add_lwpolyline(square(E, N, 20), close=True)
    doc.modelspace().add_text("330102001001QB00001", dxfattribs={"insert": (E + 5, N + 5)})
    result = read_dxf(save(doc, tmp_path / "bad.dxf"))
    assert result.parcels[0].parcel_code == "330102001001QB00001"
    report = validate_result(result)
    assert [i.code for i in report.errors] == ["parcel_code_malformed"]


def test_no_crs_must_be_stated(tmp_path: Path) -> None:
    doc = new_drawing()
    doc.modelspace().add_lwpolyline(square(438000, 3351000, 20), close=True)
    path = save(doc, tmp_path / "local.dxf")
    with pytest.raises(CrsError) as info:
        read_parcels(path)
    assert str(info.value).startswith("local.dxf: ")
    assert "uploader must state the CRS" in str(info.value)
    assert read_parcels(path, crs=4549).crs == 4549


def test_binary_dxf(tmp_path: Path) -> None:
    doc = new_drawing()
    doc.modelspace().add_lwpolyline(square(E, N, 20), close=True)
    path = tmp_path / "binary.dxf"
    doc.saveas(path, fmt="bin")
    assert detect_reader(path) == "dxf"
    assert len(read_parcels(path).parcels) == 1


def test_damaged_and_empty_drawings(tmp_path: Path) -> None:
    path = tmp_path / "broken.dxf"
    path.write_text("0\nSECTION\n2\nENTITIES\n0\nLWPOLYLINE\n10\nnot-a-number\n")
    with pytest.raises(ReadError) as info:
        read_parcels(path)
    assert str(info.value).startswith("broken.dxf")
    doc = new_drawing()
    doc.modelspace().add_line((0, 0), (1, 1))
    with pytest.raises(ReadError, match="holds no parcel outline"):
        read_parcels(save(doc, tmp_path / "lines.dxf"))
