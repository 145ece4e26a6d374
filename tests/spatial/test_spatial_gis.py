"""GIS formats through GDAL: GeoJSON, zipped Shapefile, GeoPackage, GML."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import GeometryCollection, Point, Polygon, mapping
from spatial_factories import CODE1, CODE2, E0, N0, square

from spatial.errors import CrsError, ReadError, UnsupportedFormatError
from spatial.readers import read_parcels


def frame(crs: int | None = 4528, **columns: Any) -> gpd.GeoDataFrame:
    geometry = [Polygon(square(E0, N0, 20)), Polygon(square(E0 + 20, N0, 20))]
    data = {
        "ZDDM": [CODE1, CODE2],
        "MJ": [400.0, 400.0],
        "DLBM": ["0701", "0702"],
        "名称": ["甲", "乙"],
    }
    data.update(columns)
    return gpd.GeoDataFrame(data, geometry=geometry, crs=crs)


def feature_collection(features: list[dict[str, Any]], crs: str | None = None) -> str:
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    return json.dumps(doc)


def feature(geometry: Any, **properties: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": mapping(geometry) if geometry else None,
    }


def test_geojson_in_a_projected_crs(tmp_path: Path) -> None:
    path = tmp_path / "parcels.geojson"
    frame().to_file(path, driver="GeoJSON")
    result = read_parcels(path)
    assert (result.format, result.crs) == ("geojson", 4528)
    first, second = result.parcels
    assert (first.parcel_code, first.declared_area, first.land_use_code, first.name) == (
        CODE1,
        400.0,
        "0701",
        "甲",
    )
    assert first.place == "feature 1" and second.place == "feature 2"
    assert first.geometry.area == pytest.approx(400)


def test_geojson_lon_lat_keeps_x_as_longitude(tmp_path: Path) -> None:
    square_deg = Polygon([(120.0, 30.0), (120.001, 30.0), (120.001, 30.001), (120.0, 30.001)])
    path = tmp_path / "lonlat.json"
    path.write_text(feature_collection([feature(square_deg, zddm=CODE1)]))
    result = read_parcels(path)
    assert result.crs == 4326
    assert result.parcels[0].geometry.bounds[0] == pytest.approx(120.0)
    path.write_text(
        feature_collection([feature(square_deg, zddm=CODE1)], "urn:ogc:def:crs:EPSG::4490")
    )
    result = read_parcels(path)
    assert result.crs == 4490
    assert result.parcels[0].geometry.bounds[:2] == pytest.approx((120.0, 30.0))


def test_geojson_without_crs_but_projected_coordinates(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.geojson"
    path.write_text(feature_collection([feature(Polygon(square(E0, N0, 20)), code=CODE1)]))
    with pytest.raises(CrsError) as info:
        read_parcels(path)
    assert str(info.value).startswith("nocrs.geojson: ") and "not degrees" in str(info.value)
    result = read_parcels(path, crs=4528)
    assert result.crs == 4528
    assert [i.code for i in result.issues] == ["crs_overridden"]


def test_non_polygon_and_empty_features_are_reported(tmp_path: Path) -> None:
    features = [
        feature(Polygon(square(E0, N0, 20)), code=CODE1),
        feature(Point(E0, N0), code=CODE2),
        feature(None),
        feature(GeometryCollection([Polygon(square(E0 + 50, N0, 10))])),
    ]
    path = tmp_path / "mixed.geojson"
    path.write_text(feature_collection(features, "EPSG:4528"))
    result = read_parcels(path)
    assert len(result.parcels) == 2
    assert [(i.code, i.place, i.severity) for i in result.issues] == [
        ("not_polygon", "feature 2", "error"),
        ("empty", "feature 3", "error"),
    ]


def test_geojson_with_only_points_is_a_read_error(tmp_path: Path) -> None:
    path = tmp_path / "points.geojson"
    path.write_text(feature_collection([feature(Point(1, 2))]))
    with pytest.raises(
        ReadError, match="has no polygon layer; its layers are 'points' \\(Point\\)"
    ):
        read_parcels(path)
    with pytest.raises(ReadError, match="holds no polygon feature.*feature 1: feature is a Point"):
        read_parcels(path, layers=["points"])


def zip_shapefile(
    tmp_path: Path, gdf: gpd.GeoDataFrame, *, drop: tuple[str, ...] = (), **kwargs: Any
) -> Path:
    folder = tmp_path / "shp"
    folder.mkdir()
    gdf.to_file(folder / "宗地.shp", **kwargs)
    archive = tmp_path / "parcels.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() not in drop:
                zf.write(file, f"data/{file.name}")
    return archive


def test_zipped_shapefile_with_prj(tmp_path: Path) -> None:
    result = read_parcels(zip_shapefile(tmp_path, frame()))
    assert (result.format, result.crs) == ("shapefile", 4528)
    assert [p.parcel_code for p in result.parcels] == [CODE1, CODE2]
    assert result.parcels[0].name == "甲"


def test_zipped_shapefile_in_gbk_without_cpg(tmp_path: Path) -> None:
    archive = zip_shapefile(tmp_path, frame(), drop=(".cpg",), encoding="GBK")
    result = read_parcels(archive)
    assert [p.name for p in result.parcels] == ["甲", "乙"]


def test_zipped_shapefile_without_prj(tmp_path: Path) -> None:
    archive = zip_shapefile(tmp_path, frame(), drop=(".prj",))
    with pytest.raises(CrsError) as info:
        read_parcels(archive)
    assert "data/宗地.shp" in str(info.value) and "no .prj" in str(info.value)
    assert read_parcels(archive, crs=4528).crs == 4528


def test_zip_without_vector_data(tmp_path: Path) -> None:
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    with pytest.raises(UnsupportedFormatError, match="holds no shapefile"):
        read_parcels(archive)


def test_geopackage_all_layers_or_chosen(tmp_path: Path) -> None:
    path = tmp_path / "survey.gpkg"
    frame().to_file(path, layer="parcels", driver="GPKG")
    points = gpd.GeoDataFrame({"name": ["J1"]}, geometry=[Point(E0, N0)], crs=4528)
    points.to_file(path, layer="points", driver="GPKG")
    other = frame(crs=4549).set_geometry(
        [Polygon(square(438683.652, N0 + 100, 10)), Polygon(square(438693.652, N0 + 100, 10))]
    )
    other.to_file(path, layer="more", driver="GPKG")
    result = read_parcels(path)
    assert result.format == "gpkg" and result.crs == 4528
    assert len(result.parcels) == 4
    assert result.parcels[0].place == "layer 'parcels', feature 1"
    codes = [i.code for i in result.issues]
    assert "layer_skipped" in codes and "crs_transformed" in codes
    assert result.parcels[2].geometry.bounds[0] == pytest.approx(40438683.652, abs=0.01)
    chosen = read_parcels(path, layers=["PARCELS"])
    assert len(chosen.parcels) == 2 and chosen.issues == []
    with pytest.raises(ReadError, match="has no layer 'nope'; its layers are"):
        read_parcels(path, layers=["nope"])


def test_geopackage_without_crs(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.gpkg"
    with pytest.warns(UserWarning, match="crs"):
        frame(crs=None).to_file(path, driver="GPKG")
    with pytest.raises(CrsError, match="declares no coordinate reference system"):
        read_parcels(path)


def test_gml_with_inspire_fields(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {
            "nationalCadastralReference": ["11039A02800003"],
            "label": ["00003"],
            "areaValue": [4.0],
            "areaValue_uom": ["ha"],
        },
        geometry=[Polygon(square(233000, 4015000, 200))],
        crs=25830,
    )
    path = tmp_path / "cp.gml"
    gdf.to_file(path, driver="GML")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = read_parcels(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no .gfs written beside it
    assert (result.format, result.crs) == ("gml", 25830)
    (parcel,) = result.parcels
    assert parcel.parcel_code == "11039A02800003"
    assert parcel.name == "00003"
    assert parcel.declared_area == 40000.0


def test_interlis_and_unknown_formats_are_refused(tmp_path: Path) -> None:
    xtf = tmp_path / "data.xtf"
    xtf.write_text('<?xml version="1.0"?><TRANSFER xmlns="http://www.interlis.ch/INTERLIS2.3"/>')
    with pytest.raises(UnsupportedFormatError, match="INTERLIS"):
        read_parcels(xtf)
    xml = tmp_path / "other.xml"
    xml.write_text('<?xml version="1.0"?><note>hello</note>')
    with pytest.raises(UnsupportedFormatError, match="^other.xml: is not a vector format"):
        read_parcels(xml)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x00\x01\x02 not anything")
    with pytest.raises(UnsupportedFormatError, match="not recognised"):
        read_parcels(blob)


def test_bad_area_value(tmp_path: Path) -> None:
    path = tmp_path / "area.geojson"
    path.write_text(
        feature_collection(
            [feature(Polygon(square(E0, N0, 20)), zddm=CODE1, mj="四百")], "EPSG:4528"
        )
    )
    (parcel,) = read_parcels(path).parcels
    assert parcel.declared_area is None
    (issue,) = parcel.warnings
    assert issue.code == "bad_value" and "field mj" in issue.message and issue.place == "feature 1"


@pytest.mark.parametrize("areas, expected", [
    ([400.0, float("nan")], [400.0, None]),  # a numeric column: NaN is no area
    ([400, 401], [400.0, 401.0]),  # integers
    ([400.0, float("inf")], [400.0, None]),  # infinity is not an area: reported
])
def test_numeric_area_columns(tmp_path: Path, areas: list[float], expected: list[float | None]) -> None:
    path = tmp_path / "areas.gpkg"
    frame(MJ=areas, ZDDM=[f"  {CODE1} ", CODE2]).to_file(path, driver="GPKG")
    parcels = read_parcels(path).parcels
    assert [p.declared_area for p in parcels] == expected
    assert parcels[0].parcel_code == CODE1  # text is stripped
    reported = [i for p in parcels for i in p.warnings if i.code == "bad_value"]
    assert [i.place for i in reported] == (["feature 2"] if areas[1] == float("inf") else [])


def test_unclosed_geojson_ring_is_closed_with_a_warning(tmp_path: Path) -> None:
    ring = [[E0, N0], [E0 + 20, N0], [E0 + 20, N0 + 20], [E0, N0 + 20]]  # no closing point
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "EPSG:4528"}},
        "features": [
            {
                "type": "Feature",
                "properties": {"zddm": CODE1},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }
    path = tmp_path / "open.geojson"
    path.write_text(json.dumps(doc))
    (parcel,) = read_parcels(path).parcels
    assert parcel.geometry.area == pytest.approx(400)
    assert [i.code for i in parcel.warnings] == ["unclosed_ring"]


def test_zip_with_two_shapefiles_names_the_member(tmp_path: Path) -> None:
    folder = tmp_path / "two"
    folder.mkdir()
    frame().to_file(folder / "a.shp")
    frame(crs=4549).set_geometry(
        [Polygon(square(438683.652, N0 + 100, 10)), Polygon(square(438693.652, N0 + 100, 10))]
    ).to_file(folder / "b.shp")
    archive = tmp_path / "survey.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(folder.iterdir()):
            zf.write(file, file.name)
    result = read_parcels(archive)
    assert result.file == "survey.zip" and result.crs == 4528
    assert [p.place for p in result.parcels] == [
        "survey.zip/a.shp, feature 1",
        "survey.zip/a.shp, feature 2",
        "survey.zip/b.shp, feature 1",
        "survey.zip/b.shp, feature 2",
    ]
    assert "crs_transformed" in [i.code for i in result.issues]


def test_unzipped_shapefile_is_read_in_place(tmp_path: Path) -> None:
    frame().to_file(tmp_path / "parcels.shp")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = read_parcels(tmp_path / "parcels.shp")
    assert (result.format, result.crs, len(result.parcels)) == ("shapefile", 4528, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
