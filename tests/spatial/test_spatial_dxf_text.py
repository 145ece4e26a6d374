"""DXF text exactly as the CAD program shows it (issue 16 §1): control codes, the point CAD
places justified text at, the text the bytes really hold whatever the header says, and labels
as surveyors write them (prefixed codes, land-use codes, areas with units)."""

from __future__ import annotations

import io
from pathlib import Path

import ezdxf
import pytest
from ezdxf.document import Drawing
from ezdxf.enums import TextEntityAlignment
from spatial_factories import CODE1, CODE2, CODE3, square

from spatial.errors import ReadError
from spatial.readers import read_parcels
from spatial.readers._dxf_labels import cad_text
from spatial.validation import validate_result

REPORTED = Path("/work/shared/fixtures/reported")
if not REPORTED.is_dir():
    REPORTED = Path(__file__).resolve().parents[3] / "shared/fixtures/reported"
needs_reported = pytest.mark.skipif(not REPORTED.is_dir(), reason="shared fixtures not available")
E, N = 40438000.0, 3351000.0


def drawing(version: str = "R2010") -> Drawing:
    doc = ezdxf.new(version)
    block = doc.blocks.new("ZDH")
    block.add_attdef("DLBM", (0, 0))
    return doc


def two_parcels(doc: Drawing) -> None:
    msp = doc.modelspace()
    msp.add_lwpolyline(square(E, N, 20), close=True)
    msp.add_lwpolyline(square(E + 20, N, 20), close=True)


@needs_reported
def test_reported_underlined_code_is_the_parcel_code() -> None:
    result = read_parcels(REPORTED / "dxf-underlined-code/underlined.dxf")
    [parcel] = result.parcels
    assert parcel.parcel_code == "330102001001GB09011"
    assert parcel.name is None and parcel.land_use_code == "0701" and parcel.declared_area == 10000
    assert validate_result(result).error_count == 0
    assert "parcel_code_missing" not in validate_result(result).codes()


@needs_reported
def test_reported_centred_label_goes_to_the_parcel_its_alignment_point_is_in() -> None:
    result = read_parcels(REPORTED / "dxf-aligned-label/aligned.dxf")
    west, east = sorted(result.parcels, key=lambda p: p.geometry.bounds[0])
    assert (west.parcel_code, east.parcel_code) == ("330102001001GB09021", "330102001001GB09022")
    report = validate_result(result)
    assert report.error_count == 0 and not {"multiple_labels", "parcel_code_missing"} & report.codes()


@pytest.mark.parametrize(("raw", "shown"), [
    ("%%U330102001001GB00001%%u", CODE1), ("%%o330102001001GB00001%%O", CODE1), ("%%k0701%%k", "0701"),
    ("45%%d", "45°"), ("%%p0.05", "±0.05"), ("%%c20", "Ø20"), ("100%%%", "100%"), ("%%0491", "11"),
    ("%%051%%05130102001001GB00001", "33" + "30102001001GB00001"), ("%%176", "°"),
    ("\\U+5B97\\U+5730\\U+4EE3\\U+7801", "宗地代码"), ("J%%u12", "J12"),
])
def test_text_control_codes_as_cad_shows_them(raw: str, shown: str) -> None:
    assert cad_text(raw) == shown


def test_codes_land_uses_areas_and_point_names_through_control_codes(tmp_path: Path) -> None:
    doc = drawing()
    msp = doc.modelspace()
    two_parcels(doc)
    msp.add_text("%%U\\U+5B97\\U+5730\\U+4EE3\\U+7801\\U+FF1A330102001001GB00001%%u",
                 dxfattribs={"insert": (E + 2, N + 10)})
    msp.add_text("%%o0701%%O", dxfattribs={"insert": (E + 2, N + 6)})
    msp.add_text("%%U400.00m²", dxfattribs={"insert": (E + 2, N + 4)})
    msp.add_text("ZDDM=%%u330102001001GB00002", dxfattribs={"insert": (E + 22, N + 10)})
    insert = msp.add_blockref("ZDH", (E + 22, N + 2))
    insert.add_auto_attribs({"DLBM": "%%U0501%%u"})
    msp.add_point((E, N))
    msp.add_text("J%%U1", dxfattribs={"insert": (E + 0.3, N + 0.3)})
    doc.saveas(tmp_path / "codes.dxf")
    west, east = sorted(read_parcels(tmp_path / "codes.dxf").parcels, key=lambda p: p.geometry.bounds[0])
    assert (west.parcel_code, west.land_use_code, west.declared_area) == (CODE1, "0701", 400.0)
    assert west.name is None
    assert (east.parcel_code, east.land_use_code) == (CODE2, "0501")
    assert [p.name for p in west.boundary_points] == ["J1"]


@pytest.mark.parametrize("align", [a for a in TextEntityAlignment if a is not TextEntityAlignment.LEFT])
def test_every_justification_places_the_label_at_its_alignment_point(tmp_path: Path,
                                                                      align: TextEntityAlignment) -> None:
    doc = drawing()
    two_parcels(doc)
    msp = doc.modelspace()
    msp.add_text(CODE1, dxfattribs={"insert": (E + 2, N + 10)})  # left-justified: group 10 is the point
    text = msp.add_text(CODE2, dxfattribs={"insert": (E + 5, N + 5)})  # stale insert point: the west parcel
    if align in (TextEntityAlignment.ALIGNED, TextEntityAlignment.FIT):
        text.set_placement((E + 22, N + 5), (E + 38, N + 5), align=align)  # midpoint in the east parcel
        text.dxf.insert = (E + 22, N + 5)
    else:
        text.set_placement((E + 30, N + 10), align=align)
        text.dxf.insert = (E + 5, N + 5)
    doc.saveas(tmp_path / "aligned.dxf")
    west, east = sorted(read_parcels(tmp_path / "aligned.dxf").parcels, key=lambda p: p.geometry.bounds[0])
    assert (west.parcel_code, east.parcel_code) == (CODE1, CODE2)
    assert not west.warnings


def _chinese_drawing(version: str) -> Drawing:
    doc = drawing(version)
    msp = doc.modelspace()
    msp.add_lwpolyline(square(E, N, 20), close=True)
    msp.add_text(f"宗地代码：{CODE3}", dxfattribs={"insert": (E + 2, N + 10)})
    msp.add_text("0701城镇住宅用地", dxfattribs={"insert": (E + 2, N + 6)})
    msp.add_text("某某村委会", dxfattribs={"insert": (E + 2, N + 4)})
    return doc


def _bytes(doc: Drawing, codepage: str | None, encoding: str) -> bytes:
    """The drawing's text as `encoding` bytes under a header declaring `codepage` ($DWGCODEPAGE)."""
    stream = io.StringIO()
    doc.write(stream)
    text = stream.getvalue()
    if codepage:
        assert "\nANSI_1252\n" in text
        text = text.replace("\nANSI_1252\n", f"\n{codepage}\n")
    return text.encode(encoding)


@pytest.mark.parametrize(("version", "codepage", "encoding"), [
    ("R2000", "ANSI_936", "utf-8"),      # the header says GBK over UTF-8 text
    ("R2010", None, "gb18030"),          # DXF 2007+ means UTF-8, the text is GBK
    ("R2000", "ANSI_1252", "gb18030"),   # many tools' default header over GBK text
    ("R2000", "ANSI_936", "gb18030"),    # header and bytes agree
])
def test_text_is_read_as_it_really_is_whatever_the_header_says(tmp_path: Path, version: str,
                                                                codepage: str | None, encoding: str) -> None:
    path = tmp_path / "mixed.dxf"
    path.write_bytes(_bytes(_chinese_drawing(version), codepage, encoding))
    [parcel] = read_parcels(path).parcels
    assert (parcel.parcel_code, parcel.land_use_code, parcel.name) == (CODE3, "0701", "某某村委会")


def test_text_in_no_readable_encoding_is_refused_naming_the_file(tmp_path: Path) -> None:
    data = _bytes(_chinese_drawing("R2000"), "ANSI_936", "gb18030").replace("某某".encode("gb18030"), b"\xff\xfe\xff")
    path = tmp_path / "broken.dxf"
    path.write_bytes(data)
    with pytest.raises(ReadError, match="code page") as caught:
        read_parcels(path)
    assert caught.value.file == "broken.dxf"


@pytest.mark.parametrize(("label", "layer", "field", "value"), [
    ("ZDDM=330102001001GB00003", "0", "parcel_code", CODE3),
    ("宗地代码:330102001001GB00003", "0", "parcel_code", CODE3),
    ("0701", "0", "land_use_code", "0701"),
    ("1001", "DLBM", "land_use_code", "1001"),
    ("0501商务金融用地", "0", "land_use_code", "0501"),
    ("地类编码＝0702", "0", "land_use_code", "0702"),
    ("400m²", "0", "declared_area", 400.0),
    ("400平方米", "0", "declared_area", 400.0),
    ("0.6亩", "0", "declared_area", 400.0),
    ("0.04公顷", "0", "declared_area", 400.0),
    ("MJ=400", "0", "declared_area", 400.0),
])
def test_labels_as_surveyors_write_them(tmp_path: Path, label: str, layer: str, field: str,
                                        value: object) -> None:
    doc = drawing()
    doc.layers.add("DLBM")
    msp = doc.modelspace()
    msp.add_lwpolyline(square(E, N, 20), close=True)
    msp.add_text(label, dxfattribs={"insert": (E + 2, N + 10), "layer": layer})
    doc.saveas(tmp_path / "label.dxf")
    [parcel] = read_parcels(tmp_path / "label.dxf").parcels
    got = getattr(parcel, field)
    assert got == pytest.approx(value) if isinstance(value, float) else got == value
    assert parcel.name is None


def test_a_parcel_without_a_code_says_where_a_code_was_looked_for(tmp_path: Path) -> None:
    doc = drawing()
    doc.modelspace().add_lwpolyline(square(E, N, 20), close=True)
    doc.saveas(tmp_path / "nocode.dxf")
    [issue] = [i for i in validate_result(read_parcels(tmp_path / "nocode.dxf")).issues
               if i.code == "parcel_code_missing"]
    assert "ZDDM" in issue.message and "宗地代码" in issue.message and "zddm" in issue.message
    assert "ZDDM" in issue.details["tried_dxf_tags"]
