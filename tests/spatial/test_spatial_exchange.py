"""The boundary-point coordinate exchange file, as written by real survey software."""

from __future__ import annotations

from pathlib import Path

import pytest
from shapely.geometry import MultiPolygon, Polygon
from spatial_factories import (
    CODE1,
    CODE2,
    CODE3,
    E0,
    N0,
    exchange_text,
    parcel_block,
    square,
    write,
)

from spatial.errors import CrsError, ReadError
from spatial.readers import read_parcels
from spatial.readers.exchange import read_exchange

DOMAIN_EXAMPLE = """[属性描述]
格式版本号=1.01
数据产生单位=某测绘院
数据产生日期=2025-6-15
坐标系=2000国家大地坐标系
几度分带=3
投影类型=高斯克吕格
计量单位=米
带号=40
精度=0.001
转换参数=,,,,,,
[地块坐标]
5,0.0321,330102001001GB00001,某宗地,面,H51G093001,住宅用地,0701,@
J1,1,3351508.512,40438683.652
J2,1,3351508.512,40438700.000
J3,1,3351490.000,40438700.000
J4,1,3351490.000,40438683.652
J1,1,3351508.512,40438683.652
"""


def test_domain_example(tmp_path: Path) -> None:
    result = read_parcels(write(tmp_path / "parcels.txt", DOMAIN_EXAMPLE))
    assert result.format == "exchange"
    assert result.crs == 4528
    (parcel,) = result.parcels
    assert parcel.parcel_code == "330102001001GB00001"
    assert parcel.declared_area == pytest.approx(321.0)  # 0.0321 ha
    assert parcel.land_use_code == "0701"
    assert parcel.name == "某宗地"
    assert parcel.place == "line 13"
    assert parcel.warnings == []
    # X is the northing, Y the easting: geometry has x = easting.
    minx, miny, maxx, maxy = parcel.geometry.bounds
    assert (minx, maxx) == (40438683.652, 40438700.0)
    assert (miny, maxy) == (3351490.0, 3351508.512)
    assert [p.name for p in parcel.boundary_points] == ["J1", "J2", "J3", "J4"]
    assert parcel.boundary_points[0].x == 40438683.652
    assert parcel.boundary_points[0].y == 3351508.512
    assert parcel.boundary_points[0].ring == 1


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8", "utf-16"])
def test_encodings(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path / "gbk.txt", DOMAIN_EXAMPLE, encoding)
    (parcel,) = read_parcels(path).parcels
    assert parcel.name == "某宗地"
    assert parcel.parcel_code == CODE1


def test_crlf_blank_lines_and_full_width_punctuation(tmp_path: Path) -> None:
    text = DOMAIN_EXAMPLE.replace("\n", "\r\n\r\n").replace(",", "，").replace("=", "＝")
    text = text.replace("[地块坐标]", "【地块坐标】").replace(
        "3351508.512", "３３５１５０８.５１２"
    )
    (parcel,) = read_parcels(write(tmp_path / "wide.txt", text, "gbk")).parcels
    assert parcel.parcel_code == CODE1
    assert parcel.geometry.bounds[3] == 3351508.512
    assert parcel.place == "line 25"  # line numbers count the blank lines, as an editor does


def test_blank_zone_is_inferred_from_easting_prefix(tmp_path: Path) -> None:
    text = exchange_text(parcel_block(CODE1, [square(E0, N0, 20)]), zone="", width="")
    assert read_parcels(write(tmp_path / "a.txt", text)).crs == 4528


def test_easting_without_prefix_uses_zone_number(tmp_path: Path) -> None:
    text = exchange_text(parcel_block(CODE1, [square(438683.652, N0, 20)]))
    assert read_parcels(write(tmp_path / "a.txt", text)).crs == 4549


def test_zone_given_as_central_meridian(tmp_path: Path) -> None:
    text = exchange_text(parcel_block(CODE1, [square(438683.652, N0, 20)]), zone="120")
    assert read_parcels(write(tmp_path / "a.txt", text)).crs == 4549


def test_six_degree_zone_and_other_datums(tmp_path: Path) -> None:
    text = exchange_text(parcel_block(CODE1, [square(20438683.652, N0, 20)]), width="6", zone="20")
    assert read_parcels(write(tmp_path / "a.txt", text)).crs == 4498
    text = exchange_text(parcel_block(CODE1, [square(E0, N0, 20)]), system="1980西安坐标系")
    assert read_parcels(write(tmp_path / "b.txt", text)).crs == 2364
    text = exchange_text(parcel_block(CODE1, [square(E0, N0, 20)]), system="1954北京坐标系")
    assert read_parcels(write(tmp_path / "c.txt", text)).crs == 2416


def test_no_prefix_and_blank_zone_is_a_crs_error(tmp_path: Path) -> None:
    text = exchange_text(parcel_block(CODE1, [square(438683.652, N0, 20)]), zone="")
    with pytest.raises(CrsError) as info:
        read_parcels(write(tmp_path / "nozone.txt", text))
    assert str(info.value).startswith("nozone.txt, line 9, field 带号: ")
    # The crs argument is the way out.
    assert read_parcels(tmp_path / "nozone.txt", crs=4549).crs == 4549


def test_zone_contradicting_the_prefix(tmp_path: Path) -> None:
    text = exchange_text(parcel_block(CODE1, [square(E0, N0, 20)]), zone="39")
    with pytest.raises(
        CrsError, match="带号 says zone 39 but the eastings carry the zone prefix 40"
    ):
        read_parcels(write(tmp_path / "a.txt", text))


def test_mixed_zone_prefixes(tmp_path: Path) -> None:
    ring = square(E0, N0, 20)
    ring[2] = (39438703.652, N0 + 20)
    text = exchange_text(parcel_block(CODE1, [ring]))
    with pytest.raises(CrsError) as info:
        read_parcels(write(tmp_path / "a.txt", text))
    assert info.value.line == 16 and info.value.field == "Y"


def test_unknown_coordinate_system_and_units(tmp_path: Path) -> None:
    text = exchange_text(parcel_block(CODE1, [square(E0, N0, 20)]), system="地方独立坐标系")
    with pytest.raises(CrsError, match="field 坐标系"):
        read_parcels(write(tmp_path / "a.txt", text))
    assert read_parcels(tmp_path / "a.txt", crs=4528).crs == 4528
    text = exchange_text(parcel_block(CODE1, [square(E0, N0, 20)])).replace(
        "计量单位=米", "计量单位=度"
    )
    with pytest.raises(CrsError, match="计量单位"):
        read_parcels(write(tmp_path / "b.txt", text))


def test_crs_argument_overrides_with_a_warning(tmp_path: Path) -> None:
    text = exchange_text(parcel_block(CODE1, [square(E0, N0, 20)]))
    result = read_parcels(write(tmp_path / "a.txt", text), crs=4513)
    assert result.crs == 4513 and result.parcels[0].crs == 4513
    assert [i.code for i in result.issues] == ["crs_overridden"]


def test_unclosed_ring_is_closed_with_a_warning(tmp_path: Path) -> None:
    text = exchange_text(parcel_block(CODE1, [square(E0, N0, 20)], close=False))
    (parcel,) = read_parcels(write(tmp_path / "a.txt", text)).parcels
    assert parcel.geometry.is_valid and parcel.geometry.area == pytest.approx(400)
    (issue,) = parcel.warnings
    assert issue.code == "unclosed_ring" and issue.severity == "warning"
    assert issue.place == "line 14"
    assert len(parcel.boundary_points) == 4


@pytest.mark.parametrize("count", [4, 5])
def test_point_count_with_or_without_closing_point(tmp_path: Path, count: int) -> None:
    text = exchange_text(parcel_block(CODE1, [square(E0, N0, 20)], count=count))
    (parcel,) = read_parcels(write(tmp_path / "a.txt", text)).parcels
    assert parcel.warnings == []


def test_point_count_mismatch_is_a_warning(tmp_path: Path) -> None:
    text = exchange_text(parcel_block(CODE1, [square(E0, N0, 20)], count=9))
    (parcel,) = read_parcels(write(tmp_path / "a.txt", text)).parcels
    (issue,) = parcel.warnings
    assert issue.code == "point_count_mismatch" and issue.details["field"] == "point count"


def test_several_parcels_and_rings(tmp_path: Path) -> None:
    with_hole = parcel_block(CODE1, [square(E0, N0, 30), square(E0 + 10, N0 + 10, 5)])
    two_parts = parcel_block(CODE2, [square(E0 + 100, N0, 10), square(E0 + 200, N0, 10)])
    plain = parcel_block(CODE3, [square(E0 + 30, N0, 30)])
    result = read_parcels(write(tmp_path / "a.txt", exchange_text(with_hole, two_parts, plain)))
    assert [p.parcel_code for p in result.parcels] == [CODE1, CODE2, CODE3]
    hole, parts, simple = (p.geometry for p in result.parcels)
    assert isinstance(hole, Polygon) and len(hole.interiors) == 1
    assert hole.area == pytest.approx(900 - 25)
    assert result.parcels[0].warnings == []
    assert isinstance(parts, MultiPolygon) and len(parts.geoms) == 2
    (issue,) = result.parcels[1].warnings
    assert issue.code == "separate_part" and "ring 2" in issue.message
    assert isinstance(simple, Polygon) and simple.is_valid
    assert [p.ring for p in result.parcels[0].boundary_points] == [1] * 4 + [2] * 4


def test_island_inside_a_hole_is_a_part(tmp_path: Path) -> None:
    rings = [square(E0, N0, 50), square(E0 + 10, N0 + 10, 30), square(E0 + 20, N0 + 20, 5)]
    (parcel,) = read_parcels(
        write(tmp_path / "a.txt", exchange_text(parcel_block(CODE1, rings)))
    ).parcels
    assert isinstance(parcel.geometry, MultiPolygon)
    assert parcel.geometry.area == pytest.approx(2500 - 900 + 25)


def test_ring_crossing_the_outer_ring_stays_a_hole(tmp_path: Path) -> None:
    rings = [square(E0, N0, 20), square(E0 + 15, N0 + 5, 10)]
    (parcel,) = read_parcels(
        write(tmp_path / "a.txt", exchange_text(parcel_block(CODE1, rings)))
    ).parcels
    assert isinstance(parcel.geometry, Polygon) and len(parcel.geometry.interiors) == 1
    assert not parcel.geometry.is_valid  # validation reports where they cross


def test_same_ring_number_closing_twice_gives_two_rings(tmp_path: Path) -> None:
    block = parcel_block(CODE1, [square(E0, N0, 30), square(E0 + 10, N0 + 10, 5)])
    block = block.replace(",2,", ",1,")  # the tool numbered every ring 1
    (parcel,) = read_parcels(write(tmp_path / "a.txt", exchange_text(block))).parcels
    assert len(parcel.geometry.interiors) == 1  # type: ignore[union-attr]


def test_header_with_missing_and_shifted_fields(tmp_path: Path) -> None:
    body = "\n".join(parcel_block(CODE1, [square(E0, N0, 20)]).splitlines()[1:]) + "\n"
    headers = {
        f"0.0400,{CODE1},某宗地,面,,住宅用地,0701,@": (CODE1, 400.0, "0701"),  # no count
        f"5,,{CODE1},某宗地,面,@": (CODE1, None, None),  # blank area
        f"5,0.04,{CODE1},@": (CODE1, 400.0, None),
        f"5,0.04,{CODE1}": (CODE1, 400.0, None),  # no @
        f"5,0.04,某宗地,{CODE1},面,0701,@": (CODE1, 400.0, "0701"),  # name before code
    }
    for header, (code, area, land_use) in headers.items():
        text = exchange_text(header + "\n" + body)
        (parcel,) = read_parcels(write(tmp_path / "a.txt", text)).parcels
        assert (parcel.parcel_code, parcel.declared_area, parcel.land_use_code) == (
            code,
            area,
            land_use,
        ), header


def test_bad_area_is_an_error_issue(tmp_path: Path) -> None:
    block = parcel_block(CODE1, [square(E0, N0, 20)]).replace("0.0400", "0.O4")
    (parcel,) = read_parcels(write(tmp_path / "a.txt", exchange_text(block))).parcels
    (issue,) = parcel.warnings
    assert issue.code == "bad_value" and issue.severity == "error" and "0.O4" in issue.message


def test_bad_coordinate_names_line_and_field(tmp_path: Path) -> None:
    text = DOMAIN_EXAMPLE.replace("J2,1,3351508.512,40438700.000", "J2,1,3351508.512,4O438700.000")
    with pytest.raises(ReadError) as info:
        read_parcels(write(tmp_path / "parcels.txt", text))
    assert str(info.value) == "parcels.txt, line 15, field Y: '4O438700.000' is not a number"
    text = DOMAIN_EXAMPLE.replace("J3,1,3351490.000", "J3,1,nan")
    with pytest.raises(ReadError, match="line 16, field X: 'nan' is not a number"):
        read_parcels(write(tmp_path / "parcels.txt", text))
    text = DOMAIN_EXAMPLE.replace("J3,1,", "J3,A,")
    with pytest.raises(ReadError, match="line 16, field ring"):
        read_parcels(write(tmp_path / "parcels.txt", text))


def test_too_few_points(tmp_path: Path) -> None:
    text = exchange_text(parcel_block(CODE1, [[(E0, N0), (E0 + 1, N0)]]))
    (parcel,) = read_parcels(write(tmp_path / "a.txt", text)).parcels
    assert parcel.geometry.is_empty
    assert [i.code for i in parcel.warnings] == ["too_few_points"]


def test_unknown_lines_are_reported_not_fatal(tmp_path: Path) -> None:
    text = DOMAIN_EXAMPLE + "共1宗\n"
    result = read_parcels(write(tmp_path / "a.txt", text))
    assert [i.code for i in result.issues] == ["line_ignored"]
    assert result.issues[0].place == "line 19"


def test_point_before_header_and_no_parcels(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="line 13"):
        read_parcels(write(tmp_path / "a.txt", exchange_text("J1,1,3351508.512,40438683.652\n")))
    with pytest.raises(ReadError, match="holds no parcel"):
        read_parcels(write(tmp_path / "b.txt", exchange_text()))


def test_undecodable_bytes_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(DOMAIN_EXAMPLE.encode() + b"J9,1,\x81\x20\xff,1\n")
    with pytest.raises(ReadError, match="bad.txt, line 19"):
        read_exchange(path)


def test_original_filename_is_used_in_messages(tmp_path: Path) -> None:
    path = write(tmp_path / "tmp12345", DOMAIN_EXAMPLE.replace("J4,1,3351490.000", "J4,1,x"))
    with pytest.raises(ReadError, match="^宗地.txt, line 17"):
        read_parcels(path, filename="宗地.txt")
