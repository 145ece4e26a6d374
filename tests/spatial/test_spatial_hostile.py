"""Uploads open only the formats we document, and no reader reaches outside the upload.

The reported case (issue 15, section 1): an OGR VRT made GDAL read server files into parcel
names, and fetch URLs. Each test below is another way in of the same kind; each asserts that
the canary file's line never comes back and that the canary server got no request.
"""

from __future__ import annotations

import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_files import (
    Canary,
    canary,
    dxf_with_references,
    geojson,
    geopackage,
    gml,
    gpkg_view,
    shapefile_parts,
    slow_dxf,
    tarred,
    vrt,
    zipped,
)

from spatial.errors import LimitError, ReadError, SpatialError, UnsupportedFormatError
from spatial.model import ReadResult
from spatial.readers import ReadLimits, read_parcels
from spatial.readers.isolated import read_isolated

REPORTED = Path("/work/shared/fixtures/reported/upload-vrt/read-local-file.vrt")
if not REPORTED.is_file():
    REPORTED = Path(__file__).resolve().parents[3] / "shared/fixtures/reported/upload-vrt/read-local-file.vrt"
EXTERNAL = REPORTED.parents[2] / "external"


@pytest.fixture
def bait(tmp_path: Path) -> Iterator[Canary]:
    with canary(tmp_path / "server-files") as found:
        yield found


def outcome(path: Path, **kwargs: object) -> str:
    """Everything a reader hands back for `path` (parcels, issues, or the error), as text."""
    try:
        result = read_parcels(path, **kwargs)  # type: ignore[arg-type]
    except SpatialError as exc:
        return f"{type(exc).__name__}: {exc}"
    return _text(result)


def _text(result: ReadResult) -> str:
    return repr([(p.name, p.parcel_code, p.land_use_code, p.place, p.crs) for p in result.parcels]) + repr(
        [i.to_dict() for i in result.issues])


def upload(tmp_path: Path, name: str, content: bytes) -> Path:
    folder = tmp_path / "upload"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


def assert_closed(bait: Canary, text: str) -> None:
    assert not bait.leaked(text), text
    assert bait.hits == [], bait.hits


# --- the reported file, and VRTs under every disguise -----------------------------------


@pytest.mark.skipif(not REPORTED.is_file(), reason="shared fixtures not available")
def test_the_reported_vrt_is_refused_naming_its_format() -> None:
    with pytest.raises(UnsupportedFormatError, match="it is an OGR VRT") as caught:
        read_parcels(REPORTED)
    assert str(caught.value).startswith("read-local-file.vrt: is not a vector format this portal reads")


@pytest.mark.parametrize("name", ["parcels.vrt", "parcels.gml", "parcels.xml", "parcels.geojson", "parcels"])
def test_a_vrt_reading_a_server_file_is_refused_whatever_its_name(tmp_path: Path, bait: Canary, name: str) -> None:
    text = outcome(upload(tmp_path, name, vrt(f"CSV:{bait.secret}", "secret")))
    assert text.startswith("UnsupportedFormatError") and "OGR VRT" in text
    assert_closed(bait, text)


def test_a_vrt_fetching_a_url_is_refused(tmp_path: Path, bait: Canary) -> None:
    text = outcome(upload(tmp_path, "p.vrt", vrt(f"CSV:/vsicurl/{bait.url}/p.csv", "p")))
    assert text.startswith("UnsupportedFormatError")
    assert_closed(bait, text)


@pytest.mark.parametrize("member", ["p.vrt", "p.geojson", "p.gml", "p.json"])
def test_a_zip_holding_a_vrt_is_refused(tmp_path: Path, bait: Canary, member: str) -> None:
    text = outcome(upload(tmp_path, "survey.zip", zipped({member: vrt(f"CSV:{bait.secret}", "secret")})))
    assert text.startswith("UnsupportedFormatError")
    assert_closed(bait, text)


def test_a_tar_holding_a_vrt_is_refused(tmp_path: Path, bait: Canary) -> None:
    text = outcome(upload(tmp_path, "survey.tar.bz2", tarred({"p.gml": vrt(f"CSV:{bait.secret}", "secret")})))
    assert text.startswith("UnsupportedFormatError")
    assert_closed(bait, text)


# --- every other format GDAL would open: refused, naming what it is ----------------------


def _sqlite(tmp_path: Path) -> bytes:
    import sqlite3

    path = tmp_path / "plain.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE parcels (name TEXT, wkt TEXT)")
    conn.commit()
    conn.close()
    return path.read_bytes()


OTHER_FORMATS = {
    "p.kml": (b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document/></kml>', "KML"),
    "p.gpx": (b'<?xml version="1.0"?><gpx version="1.1"/>', "GPX"),
    "p.csv": (b"name,WKT\nx,\"POLYGON((0 0,1 0,1 1,0 0))\"\n", "CSV"),
    "p.fgb": (b"fgb\x03fgb\x00" + bytes(64), "FlatGeobuf"),
    "p.gdalg.json": (b'{"type": "gdal_streamed_alg", "command_line": "gdal vector read /etc/passwd"}',
                     "GDAL algorithm"),
    "p.json": (b'{"displayFieldName": "", "geometryType": "esriGeometryPolygon", "features": []}', "Esri JSON"),
    "p.topojson": (b'{"type": "Topology", "objects": {}, "arcs": []}', "TopoJSON"),
    "p.xml": (b'<?xml version="1.0"?><VRTDataset rasterXSize="1" rasterYSize="1"/>', "raster VRT"),
}


@pytest.mark.parametrize("name", sorted(OTHER_FORMATS))
def test_formats_we_do_not_document_are_refused_by_name(tmp_path: Path, name: str) -> None:
    content, seen = OTHER_FORMATS[name]
    with pytest.raises(UnsupportedFormatError, match=seen):
        read_parcels(upload(tmp_path, name, content))


def test_a_sqlite_database_that_is_not_a_geopackage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormatError, match="SQLite database that is not a GeoPackage"):
        read_parcels(upload(tmp_path, "p.gpkg", _sqlite(tmp_path)))


# --- external references inside the formats we do read ----------------------------------


def test_geojson_crs_link_is_not_fetched(tmp_path: Path, bait: Canary) -> None:
    crs = {"type": "link", "properties": {"href": f"{bait.url}/crs.prj", "type": "ogcwkt"}}
    text = outcome(upload(tmp_path, "p.geojson", geojson(crs)))
    assert text.startswith("CrsError")  # the CRS was not taken from the URL
    assert_closed(bait, text)


@pytest.mark.parametrize("where", ["file", "vsicurl", "url"])
def test_geojson_crs_name_is_not_a_path_or_url(tmp_path: Path, bait: Canary, where: str) -> None:
    name = {"file": str(bait.prj), "vsicurl": f"/vsicurl/{bait.url}/a.prj", "url": f"{bait.url}/b.prj"}[where]
    text = outcome(upload(tmp_path, "p.geojson", geojson({"type": "name", "properties": {"name": name}})))
    assert text.startswith("CrsError")  # not EPSG:4528 read from the file or URL
    assert_closed(bait, text)


@pytest.mark.parametrize("where", ["file", "vsicurl", "url"])
def test_gml_srs_name_is_not_a_path_or_url(tmp_path: Path, bait: Canary, where: str) -> None:
    srs = {"file": str(bait.prj), "vsicurl": f"/vsicurl/{bait.url}/a.prj", "url": f"{bait.url}/b.prj"}[where]
    text = outcome(upload(tmp_path, "p.gml", gml(srs=srs)))
    assert text.startswith("CrsError")
    assert_closed(bait, text)


@pytest.mark.parametrize("href", ["secret.txt#x", "file:///{secret}#x", "{url}/remote.gml#x"])
def test_gml_xlinks_are_not_resolved(tmp_path: Path, bait: Canary, href: str) -> None:
    href = href.format(secret=bait.secret, url=bait.url)
    extra = f'<ogr:code xlink:href="{href}"/>'
    path = upload(tmp_path, "p.gml", gml(extra=extra))
    (path.parent / "secret.txt").write_text(bait.marker)  # even beside the upload
    text = outcome(path)
    assert_closed(bait, text)


def test_gml_schema_location_is_not_fetched_or_read(tmp_path: Path, bait: Canary) -> None:
    attrs = f'xsi:schemaLocation="http://ogr.maptools.org/ {bait.url}/p.xsd http://x/ {bait.secret}"'
    text = outcome(upload(tmp_path, "p.gml", gml(root_attrs=attrs)))
    assert_closed(bait, text)


@pytest.mark.parametrize("entity", ["SYSTEM 'file:///{secret}'", "SYSTEM '{url}/e.xml'"])
def test_xml_external_entities_are_refused(tmp_path: Path, bait: Canary, entity: str) -> None:
    entity = entity.format(secret=bait.secret, url=bait.url)
    prolog = f"\n<!DOCTYPE ogr:FeatureCollection [<!ENTITY xxe {entity}>]>"
    with pytest.raises(UnsupportedFormatError, match="document type declaration"):
        read_parcels(upload(tmp_path, "p.gml", gml(prolog=prolog, name="&xxe;")))
    assert bait.hits == []


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    lol = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    with pytest.raises(UnsupportedFormatError, match="document type declaration"):
        read_parcels(upload(tmp_path, "p.gml", gml(prolog=f"<!DOCTYPE x [{lol}]>", name="&l9;")))


@pytest.mark.parametrize("where", ["file", "vsicurl"])
def test_shapefile_prj_and_cpg_do_not_point_elsewhere(tmp_path: Path, bait: Canary, where: str) -> None:
    target = str(bait.prj) if where == "file" else f"/vsicurl/{bait.url}/p.prj"
    parts = shapefile_parts(tmp_path / "shp", prj=target, cpg=target)
    text = outcome(upload(tmp_path, "survey.zip", zipped(parts)))
    assert text.startswith("CrsError")  # the .prj names a file; its CRS is not read from there
    assert_closed(bait, text)


def test_a_zip_with_a_symlink_member_is_refused(tmp_path: Path, bait: Canary) -> None:
    parts = shapefile_parts(tmp_path / "shp")
    del parts["p.prj"]
    archive = zipped(parts, links={"p.prj": str(bait.prj)})
    with pytest.raises(ReadError, match="is a link"):
        read_parcels(upload(tmp_path, "survey.zip", archive))


@pytest.mark.parametrize("member", ["../p.shp", "/tmp/p.shp", "a/../../p.shp", "C:/p.shp"])
def test_archive_members_cannot_escape(tmp_path: Path, member: str) -> None:
    with pytest.raises(ReadError, match="points outside the archive"):
        read_parcels(upload(tmp_path, "survey.zip", zipped({member: b"x"})))
    with pytest.raises(ReadError, match="points outside the archive"):
        read_parcels(upload(tmp_path, "survey.tar.bz2", tarred({member: b"x"})))


def test_a_tar_with_links_is_refused(tmp_path: Path, bait: Canary) -> None:
    with pytest.raises(ReadError, match="is a link"):
        read_parcels(upload(tmp_path, "sheet.tar.bz2", tarred({"E0001.THF": b"x"}, links={"E.VEC": str(bait.secret)})))


@pytest.mark.skipif(not EXTERNAL.is_dir(), reason="shared fixtures not available")
def test_an_edigeo_exchange_names_only_files_beside_it(tmp_path: Path) -> None:
    with tarfile.open(EXTERNAL / "fr-dgfip-edigeo/edigeo-25354000AB01.tar.bz2") as real:
        members = {m.name: real.extractfile(m).read() for m in real.getmembers() if m.isfile()}  # type: ignore[union-attr]
    thf = next(n for n in members if n.upper().endswith(".THF"))
    members[thf] = members[thf].replace(b"LONSA06:EDAB01", b"LONSA16:../../etc/EDAB")
    with pytest.raises(ReadError, match="names a file outside its folder"):
        read_parcels(upload(tmp_path, "sheet.tar.bz2", tarred(members)))


def test_geopackage_views_are_refused(tmp_path: Path) -> None:
    content = gpkg_view(tmp_path / "v.gpkg", "SELECT fid, geom, name FROM p")
    with pytest.raises(UnsupportedFormatError, match="views are not accepted"):
        read_parcels(upload(tmp_path, "p.gpkg", content))


def test_a_geopackage_view_over_an_attached_file_is_refused(tmp_path: Path, bait: Canary) -> None:
    content = gpkg_view(tmp_path / "v.gpkg", "SELECT fid, geom, name FROM other.p")
    text = outcome(upload(tmp_path, "p.gpkg", content))
    assert text.startswith(("UnsupportedFormatError", "ReadError: p.gpkg: is not a readable GeoPackage"))
    assert_closed(bait, text)


def test_geopackage_triggers_and_virtual_tables_are_refused(tmp_path: Path) -> None:
    content = geopackage(tmp_path / "t.gpkg", "CREATE TABLE log (x)",
                         "CREATE TRIGGER sneaky AFTER INSERT ON p BEGIN INSERT INTO log VALUES (1); END")
    with pytest.raises(UnsupportedFormatError, match="trigger 'sneaky'"):
        read_parcels(upload(tmp_path, "p.gpkg", content))
    content = geopackage(tmp_path / "f.gpkg", "CREATE VIRTUAL TABLE words USING fts5(w)")
    with pytest.raises(UnsupportedFormatError, match="virtual table 'words'"):
        read_parcels(upload(tmp_path, "p.gpkg", content))
    # A trigger under a GeoPackage name that loads an extension.
    content = geopackage(tmp_path / "x.gpkg", "CREATE TRIGGER gpkg_sneaky AFTER INSERT ON p BEGIN "
                         "SELECT load_extension('/tmp/evil.so'); END")
    with pytest.raises(UnsupportedFormatError, match="reaches outside the file"):
        read_parcels(upload(tmp_path, "p.gpkg", content))


def test_geopackage_indexes_and_gdal_triggers_are_fine(tmp_path: Path) -> None:
    content = geopackage(tmp_path / "i.gpkg", "ALTER TABLE p ADD COLUMN edit TEXT", "CREATE INDEX p_edit ON p (edit)")
    (parcel,) = read_parcels(upload(tmp_path, "p.gpkg", content)).parcels
    assert parcel.name == "ok"


def test_a_plain_geopackage_and_shapefile_still_read(tmp_path: Path) -> None:
    (parcel,) = read_parcels(upload(tmp_path, "p.gpkg", geopackage(tmp_path / "ok.gpkg"))).parcels
    assert parcel.name == "ok" and parcel.crs == 4528
    (parcel,) = read_parcels(upload(tmp_path, "survey.zip", zipped(shapefile_parts(tmp_path / "s")))).parcels
    assert parcel.name == "ok" and parcel.crs == 4528


def test_dxf_xrefs_and_images_are_not_opened(tmp_path: Path, bait: Canary) -> None:
    opened: list[str] = []
    secret = str(bait.secret)

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event == "open" and args and secret in str(args[0]):
            opened.append(str(args[0]))

    sys.addaudithook(hook)  # hooks cannot be removed; this one only records opens of the canary
    text = outcome(upload(tmp_path, "p.dxf", dxf_with_references(bait.secret)), crs=4528)
    assert opened == []
    assert_closed(bait, text)
    assert "330102001001GB09001" in text  # the drawing itself was read


# --- limits -------------------------------------------------------------------------------


def test_a_zip_bomb_is_refused(tmp_path: Path) -> None:
    bomb = zipped({"p.geojson": b" " * (12 * 1024**2)})
    assert len(bomb) < 100_000
    with pytest.raises(LimitError, match="decompression bomb"):
        read_parcels(upload(tmp_path, "bomb.zip", bomb))


def test_unpacked_size_and_member_count_are_limited(tmp_path: Path) -> None:
    limits = ReadLimits(max_unpacked_bytes=1024**2, max_members=10)
    with pytest.raises(LimitError, match="max unpacked bytes"):
        read_parcels(upload(tmp_path, "big.zip", zipped({"p.geojson": b" " * (2 * 1024**2)})), limits=limits)
    with pytest.raises(LimitError, match="max unpacked bytes"):
        read_parcels(upload(tmp_path, "big.tar.bz2", tarred({"p.geojson": b" " * (2 * 1024**2)})), limits=limits)
    many = zipped({f"f{i}.txt": b"x" for i in range(11)})
    with pytest.raises(LimitError, match="max archive members"):
        read_parcels(upload(tmp_path, "many.zip", many), limits=limits)


def test_features_per_upload_are_limited(tmp_path: Path) -> None:
    with pytest.raises(LimitError, match="max features per upload"):
        read_parcels(upload(tmp_path, "p.geojson", geojson(crs={"type": "name", "properties": {"name": "EPSG:4528"}})),
                     limits=ReadLimits(max_features=0))


# --- the worker process --------------------------------------------------------------------


def test_the_worker_reads_what_the_app_would(tmp_path: Path) -> None:
    path = upload(tmp_path, "p.geojson", geojson(crs={"type": "name", "properties": {"name": "EPSG:4528"}}))
    assert _text(read_isolated(path)) == _text(read_parcels(path))


def test_the_worker_refuses_the_vrt_and_says_why(tmp_path: Path, bait: Canary) -> None:
    with pytest.raises(UnsupportedFormatError, match="OGR VRT") as caught:
        read_isolated(upload(tmp_path, "p.vrt", vrt(f"CSV:{bait.secret}", "secret")), filename="p.vrt")
    assert_closed(bait, str(caught.value))


def test_a_file_that_takes_too_long_costs_one_worker(tmp_path: Path) -> None:
    path = upload(tmp_path, "slow.dxf", slow_dxf(60_000))
    with pytest.raises(LimitError, match=r"more than 1 s of processor time to read \(read CPU limit\)"):
        read_isolated(path, crs=4528, limits=ReadLimits(cpu_seconds=1))
    with pytest.raises(LimitError, match="read time limit"):
        read_isolated(path, crs=4528, limits=ReadLimits(wall_seconds=0))
    # The caller is unharmed, and the next read works.
    good = upload(tmp_path, "p.geojson", geojson(crs={"type": "name", "properties": {"name": "EPSG:4528"}}))
    assert len(read_isolated(good).parcels) == 1


def test_a_file_that_needs_too_much_memory_costs_one_worker(tmp_path: Path) -> None:
    path = upload(tmp_path, "slow.dxf", slow_dxf(20_000))
    with pytest.raises(SpatialError, match="memory"):
        read_isolated(path, crs=4528, limits=ReadLimits(memory_bytes=64 * 1024**2))


@pytest.mark.skipif(not EXTERNAL.is_dir(), reason="shared fixtures not available")
def test_the_real_files_read_the_same_in_the_worker() -> None:
    for relative in ("es-catastro-inspire/catatom2osm_38012_parcel.gpkg",
                     "es-catastro-inspire/generador-gml_test_wfs_11039.gml",
                     "fr-dgfip-edigeo/edigeo-25354000ZC01.tar.bz2"):
        path = EXTERNAL / relative
        assert _text(read_isolated(path)) == _text(read_parcels(path)), relative



def test_geojson_is_known_by_its_type_not_by_words_in_its_properties(tmp_path: Path) -> None:
    content = geojson({"type": "name", "properties": {"name": "EPSG:4528"}}, geometryType="polygon",
                      spatialReference="none", command_line="-")
    (parcel,) = read_parcels(upload(tmp_path, "p.json", content)).parcels
    assert parcel.crs == 4528


@pytest.mark.parametrize("where", ["file", "vsicurl", "url"])
def test_geopackage_srs_definition_is_not_a_path_or_url(tmp_path: Path, bait: Canary, where: str) -> None:
    definition = {"file": str(bait.prj), "vsicurl": f"/vsicurl/{bait.url}/a.prj", "url": f"{bait.url}/b.prj"}[where]
    content = geopackage(tmp_path / "s.gpkg", ("UPDATE gpkg_spatial_ref_sys SET organization = 'NONE', "
                                               "organization_coordsys_id = 0, definition = ? WHERE srs_id = 4528",
                                               (definition,)))
    text = outcome(upload(tmp_path, "p.gpkg", content))
    assert text.startswith("CrsError")  # not EPSG:4528 read from the file or URL
    assert_closed(bait, text)
