"""Where GDAL should look, and with which driver: the format is decided here, from the content.

An upload is untrusted. Its format is decided from its bytes (magic numbers, the root element
of XML, the tables of a SQLite file), never by letting GDAL try its drivers, and only the
formats we document are opened, each with its one driver: GeoJSON, GeoPackage, GML, zipped
Shapefile, EDIGEO (tar archives). Anything else (an OGR VRT, KML, CSV, FlatGeobuf, a SQLite
database that is not a GeoPackage ...) is refused naming what it is. Before GDAL sees a file:

- single files are copied into a private temporary folder (GDAL writes side files, and the
  folder holds nothing else for a driver to find);
- archives (zip, tar) are unpacked there by us, within `ReadLimits` (members, unpacked bytes,
  compression ratio), refusing absolute or ``..`` member names and links; GDAL's own archive
  and network file systems are switched off (`spatial.readers._gdal`);
- XML with a document type declaration (entities, external DTDs) is refused;
- a GeoPackage is inspected with SQLite first: views, virtual tables other than R*Tree
  indexes, and SQL that loads extensions or attaches databases are refused;
- an EDIGEO exchange may only name files in its own folder.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO
from urllib.parse import quote

from spatial.errors import CrsError, LimitError, ReadError, SpatialError, UnsupportedFormatError
from spatial.readers.limits import ReadLimits

__all__ = ["Source", "open_sources", "describe_format"]

_ACCEPTED = "exchange .txt, DXF, GeoJSON, zipped Shapefile, GeoPackage, GML, EDIGEO tar archives"
_DRIVERS = {"geojson": "GeoJSON", "gml": "GML", "gpkg": "GPKG", "shapefile": "ESRI Shapefile", "edigeo": "EDIGEO"}
# Drivers that take a "DRIVER:" prefix, so that GDAL tries that one driver and no other.
_PREFIXED = {"geojson", "gpkg"}
_SHAPEFILE_PARTS = {"shp", "shx", "dbf", "prj", "cpg"}
_SINGLE_KINDS = {"gpkg": "gpkg", "geojson": "geojson", "json": "geojson", "gml": "gml"}
_EDIGEO_PARTS = {"thf", "vec", "dic", "gen", "geo", "qal", "scd"}
_TAR_PARTS = _EDIGEO_PARTS | _SHAPEFILE_PARTS | set(_SINGLE_KINDS)
_CHUNK = 1024 * 1024


@dataclass(slots=True)
class Source:
    """One GDAL-openable path; `member` names it inside an archive, for messages; `driver` is
    the one GDAL driver that must open it."""

    path: str
    format: str
    default_layers: tuple[str, ...] = ()
    open_options: tuple[tuple[str, str], ...] = ()
    encoding: str | None = None
    member: str | None = None  # name inside an archive, for messages
    driver: str = ""


def _source(path: Path, kind: str, **kwargs: object) -> Source:
    target = f"{_DRIVERS[kind]}:{path}" if kind in _PREFIXED else str(path)
    options = (("DOWNLOAD_SCHEMA", "NO"), ("WRITE_GFS", "NO")) if kind == "gml" else ()
    return Source(target, kind, open_options=options, driver=_DRIVERS[kind], **kwargs)  # type: ignore[arg-type]


@contextmanager
def open_sources(path: Path, name: str, crs: int | None, limits: ReadLimits | None = None) -> Iterator[list[Source]]:
    limits = limits or ReadLimits()
    try:
        with path.open("rb") as handle:
            head = handle.read(8192)
    except OSError as exc:
        raise ReadError(f"cannot be opened: {exc.strerror or exc}", file=name) from exc
    suffix = Path(name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="spatial-") as tmp:
        work = Path(tmp)
        if head.startswith(b"PK\x03\x04") or (suffix == ".zip" and not head.lstrip().startswith((b"{", b"<"))):
            yield _zip_sources(path, name, crs, work, limits)
        elif head.startswith((b"BZh", b"\x1f\x8b", b"\xfd7zXZ")) or _is_tar(path):
            yield _archive_sources(path, name, work, limits)
        elif suffix == ".shp" and Path(path).suffix.lower() == ".shp" and _kind(head, name) == "shapefile":
            # A shapefile on the server's disk (bulk import by staff), with its .shx, .dbf and
            # .prj beside it; the driver writes nothing when reading.
            yield [_source(Path(path), "shapefile")]
        else:
            kind = _kind(head, name)
            # GDAL names a GeoJSON layer after the file: keep the name where it is plain ASCII.
            stem = re.sub(r"[^A-Za-z0-9_-]", "_", Path(name).stem)[:60]
            if not re.search(r"[A-Za-z0-9]", stem):
                stem = "upload"
            copy = work / (stem + {"geojson": ".geojson", "gml": ".gml", "gpkg": ".gpkg"}.get(kind, ""))
            shutil.copyfile(path, copy)
            _check(kind, copy, name)
            yield [_source(copy, kind)]


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (OSError, tarfile.TarError, EOFError, ValueError):
        return False


def _refuse_interlis(head: bytes, name: str) -> None:
    lower = head.lower()
    if (
        name.lower().endswith((".xtf", ".itf", ".ili"))
        or b"interlis" in lower
        and b"<transfer" in lower
    ):
        raise UnsupportedFormatError(
            "INTERLIS transfer files (XTF/ITF) are not supported: export the parcels (e.g. the "
            "LC_Terreno class of LADM-COL) to GeoPackage, Shapefile or GML with their CRS",
            file=name,
        )


# --- deciding the format from the content ----------------------------------------------

_XML_ROOT = re.compile(rb"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")
_XML_NAMED = {
    "ogrvrtdatasource": "an OGR VRT (virtual data source)",
    "vrtdataset": "a GDAL raster VRT",
    "kml": "KML",
    "gpx": "GPX",
    "svg": "SVG",
    "osm": "OpenStreetMap XML",
    "gdal_wms": "a GDAL WMS description",
    "wms_capabilities": "a WMS capabilities document",
}


def _refuse(seen: str, name: str) -> UnsupportedFormatError:
    return UnsupportedFormatError(f"is not a vector format this portal reads ({_ACCEPTED}): it is {seen}",
                                  file=name)


def describe_format(head: bytes) -> str:
    """What the bytes look like, for a refusal ("an OGR VRT (virtual data source)", "CSV text" ...)."""
    if head.startswith(b"SQLite format 3\x00"):
        return "a SQLite database"
    if head.startswith(b"fgb\x03"):
        return "FlatGeobuf"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"II*\x00", b"MM\x00*")):
        return "an image"
    if head.startswith((b"Rar!", b"7z\xbc\xaf")):
        return "a RAR or 7-Zip archive"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<"):
        body = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", text, flags=re.S).lstrip()
        root = _XML_ROOT.match(body)
        local = root.group(2).decode("ascii", "replace") if root else ""
        return _XML_NAMED.get(local.lower(), f"XML whose root element is <{local}>, not GML" if local else "XML")
    if text.startswith((b"{", b"[")):
        if re.search(rb'"type"\s*:\s*"gdal_streamed_alg"', text):
            return "a GDAL algorithm (.gdalg.json)"
        if re.search(rb'"type"\s*:\s*"Topology"', text):
            return "TopoJSON"
        if text.startswith(b"{") and re.search(rb'"type"\s*:\s*"(FeatureCollection|Feature)"', text):
            return "GeoJSON"
        if b'"geometryType"' in text or b'"spatialReference"' in text:
            return "Esri JSON"
        return "JSON that is not GeoJSON"
    if b"\x00" in head[:1024]:
        return "binary data of an unknown format"
    first = text.split(b"\n", 1)[0]
    if first.count(b",") >= 1 or first.count(b";") >= 1 or first.count(b"\t") >= 1:
        return "CSV or other delimited text"
    return "text of an unknown format"


def _kind(head: bytes, name: str) -> str:
    """geojson, gml, gpkg or shapefile, from the content; anything else is refused."""
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"  # `_check` refuses a SQLite database that is not a GeoPackage
    if len(head) >= 100 and head[:4] == b"\x00\x00\x27\x0a":
        return "shapefile"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<"):
        _refuse_interlis(head, name)
        if re.search(rb"<!DOCTYPE|<!ENTITY", text, flags=re.I):
            raise UnsupportedFormatError(
                "XML with a document type declaration (<!DOCTYPE>, entities) is not accepted: GML needs "
                "none; export the file again", file=name)
        if describe_format(head).startswith("XML whose root") and b"opengis.net/gml" in head:
            return "gml"
        raise _refuse(describe_format(head), name)
    if text.startswith(b"{"):
        seen = describe_format(head)
        if seen not in ("GeoJSON", "JSON that is not GeoJSON"):  # the latter: GDAL's GeoJSON driver says why
            raise _refuse(seen, name)
        return "geojson"
    raise _refuse(describe_format(head), name)


def _check(kind: str, path: Path, name: str) -> None:
    if kind == "gpkg":
        _check_geopackage(path, name)


_SAFE_TRIGGER = re.compile(
    r"(rtree_.+_(insert\d*|update\d*|delete)|trigger_(insert|delete)_feature_count_.+|gpkg_.+)", re.I)
_DANGEROUS_SQL = re.compile(r"\battach\b|\b(load_extension|readfile|writefile|fts3_tokenizer|zipfile|fsdir|sqlar_\w+|"
                            r"gdal_\w+|ogr_\w+|importshp|blobfromfile|blobtofile)\s*\(", re.I)
_VIRTUAL = re.compile(r"create\s+virtual\s+table\s+.+?\s+using\s+([\w]+)", re.I | re.S)


def _check_geopackage(path: Path, name: str) -> None:
    """A GeoPackage is a SQLite database, and SQLite runs the SQL stored in it (views, triggers,
    virtual tables): read its schema without running any of it, and refuse what could reach
    outside the file."""
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True)
        try:
            rows = conn.execute("SELECT type, name, coalesce(sql, '') FROM sqlite_master").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ReadError(f"is not a readable GeoPackage: {exc}", file=name) from exc
    tables = {n.lower() for t, n, _ in rows if t == "table"}
    if "gpkg_contents" not in tables or "gpkg_spatial_ref_sys" not in tables:
        raise _refuse("a SQLite database that is not a GeoPackage (no gpkg_contents table)", name)
    views = [n for t, n, _ in rows if t == "view"]
    if views:
        raise UnsupportedFormatError(
            f"GeoPackage SQL views are not accepted ({', '.join(repr(v) for v in views[:5])}): export the "
            "parcels as a plain table", file=name)
    for kind, obj, sql in rows:
        module = _VIRTUAL.match(sql.strip())
        if module and module.group(1).lower() != "rtree":
            raise UnsupportedFormatError(f"GeoPackage virtual table {obj!r} (module {module.group(1)}) is not "
                                         "accepted: export the parcels as a plain table", file=name)
        if kind == "trigger" and not _SAFE_TRIGGER.fullmatch(obj):
            raise UnsupportedFormatError(f"GeoPackage trigger {obj!r} is not accepted: export the parcels "
                                         "without triggers", file=name)
        if kind == "trigger" and _DANGEROUS_SQL.search(sql):
            raise UnsupportedFormatError(f"GeoPackage {kind} {obj!r} holds SQL that reaches outside the file; "
                                         "refused", file=name)


# --- archives ----------------------------------------------------------------------------


def _member_path(member: str, name: str) -> PurePosixPath:
    """The relative path an archive member is unpacked to; refuses names that could escape."""
    text = member.replace("\\", "/")
    parts = PurePosixPath(text).parts
    if (not text or "\x00" in text or text.startswith("/") or re.match(r"^[A-Za-z]:", text)
            or any(p == ".." for p in parts)):
        raise ReadError(f"the archive member name {member[:80]!r} points outside the archive; refused",
                        file=name, feature=member[:80])
    return PurePosixPath(*[p for p in parts if p not in ("", ".")])


class _Budget:
    """Bytes unpacked so far, against the limits."""

    def __init__(self, name: str, limits: ReadLimits) -> None:
        self.name, self.limits, self.total = name, limits, 0

    def copy(self, source: IO[bytes], target: Path, member: str, packed: int) -> None:
        written = 0
        with target.open("xb") as out:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                self.total += len(chunk)
                if self.total > self.limits.max_unpacked_bytes:
                    raise LimitError(f"the archive unpacks to more than {self.limits.max_unpacked_bytes:,} bytes, "
                                     "the limit of the portal (max unpacked bytes)", file=self.name)
                if written > self.limits.ratio_from and written > self.limits.max_ratio * max(packed, 1):
                    raise LimitError(f"{member!r} unpacks more than {self.limits.max_ratio} times its packed "
                                     "size: refused as a decompression bomb", file=self.name, feature=member)
                out.write(chunk)


def _zip_sources(path: Path, name: str, crs: int | None, work: Path, limits: ReadLimits) -> list[Source]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ReadError(f"is not a readable zip archive: {exc}", file=name) from exc
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > limits.max_members:
            raise LimitError(f"the archive holds {len(infos):,} files, more than the {limits.max_members:,} "
                             "accepted (max archive members)", file=name)
        declared = sum(i.file_size for i in infos)
        if declared > limits.max_unpacked_bytes:
            raise LimitError(f"the archive unpacks to {declared:,} bytes, more than the "
                             f"{limits.max_unpacked_bytes:,} accepted (max unpacked bytes)", file=name)
        budget = _Budget(name, limits)
        unpacked: dict[str, tuple[str, Path]] = {}  # lower-case member name: (member, file)
        for info in infos:
            member = info.filename
            relative = _member_path(member, name)
            if "__macosx" in member.lower() or not relative.parts:
                continue
            if (info.external_attr >> 16) & 0o170000 not in (0, 0o100000):
                raise ReadError(f"the archive member {member!r} is a link or a special file; refused",
                                file=name, feature=member)
            ext = relative.suffix.lower().lstrip(".")
            if ext in ("xtf", "itf"):
                _refuse_interlis(b"", member)
            if ext not in _SHAPEFILE_PARTS and ext not in _SINGLE_KINDS:
                continue  # never unpacked, so never opened: .vrt, .kml, .gfs, .xsd, read-me files ...
            target = work / "unpacked" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as stream:
                    budget.copy(stream, target, member, info.compress_size)
            except SpatialError:
                raise
            except FileExistsError:
                raise ReadError(f"the archive holds {member!r} twice; refused", file=name, feature=member) from None
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
                raise ReadError(f"member {member!r} cannot be unpacked: {exc}", file=name, feature=member) from exc
            unpacked[str(relative).lower()] = (member, target)
    sources = []
    for lower, (member, target) in sorted(unpacked.items(), key=lambda item: item[1][0]):
        stem, _, ext = lower.rpartition(".")
        where = f"{name}/{member}"
        if ext == "shp":
            if f"{stem}.prj" not in unpacked and crs is None:
                raise CrsError(
                    f"the shapefile {member!r} has no .prj file, so its CRS is unknown: add the "
                    ".prj to the archive or state the EPSG code when uploading",
                    file=name,
                    feature=member,
                )
            dbf = unpacked.get(f"{stem}.dbf")
            encoding = _dbf_encoding(dbf[1]) if dbf and f"{stem}.cpg" not in unpacked else None
            sources.append(_source(target, "shapefile", encoding=encoding, member=where))
        elif ext in _SINGLE_KINDS:
            with target.open("rb") as handle:
                head = handle.read(8192)
            kind = _kind(head, member)
            if kind == "shapefile":
                raise _refuse("a shapefile geometry file under another name", member)
            _check(kind, target, member)
            sources.append(_source(target, kind, member=where))
    if not sources:
        listing = ", ".join(i.filename for i in infos[:8]) or "nothing"
        raise UnsupportedFormatError(
            f"the zip archive holds no shapefile (.shp with .shx, .dbf and .prj) or other vector "
            f"file; it holds {listing}",
            file=name,
        )
    return sources


def _dbf_encoding(dbf: Path) -> str | None:
    """GBK attribute tables without a .cpg file are common; GDAL would read them as Latin-1."""
    try:
        data = dbf.read_bytes()
    except OSError:
        return None
    if len(data) < 32 or data[29] != 0:  # a language driver id is set: GDAL honours it
        return None
    header_length = int.from_bytes(data[8:10], "little")
    # Field names (11 bytes per 32-byte descriptor) and the records; the rest is binary.
    field_names = b"".join(
        data[i : i + 11].rstrip(b"\x00") for i in range(32, header_length - 1, 32)
    )
    text = field_names + data[header_length:]
    if text.isascii():
        return None
    for encoding in ("utf-8", "gb18030"):
        try:
            text.decode(encoding)
            return encoding.upper()
        except UnicodeDecodeError:
            continue
    return None


_THF_NAMES = re.compile(r"^(LON|GNN|GON|QAN|DIN|SCN|GDN)[A-Z]{2}\d{2}:(.*)$")


def _archive_sources(path: Path, name: str, work: Path, limits: ReadLimits) -> list[Source]:
    """A tar archive (.tar.bz2 ...) such as a French EDIGEO sheet: unpack it and find the .THF."""
    budget = _Budget(name, limits)
    packed = max(path.stat().st_size, 1)
    try:
        with tarfile.open(path) as archive:
            count = 0
            for member in archive:
                if member.isdir():
                    continue
                count += 1
                if count > limits.max_members:
                    raise LimitError(f"the archive holds more than {limits.max_members:,} files (max archive "
                                     "members)", file=name)
                relative = _member_path(member.name, name)
                if not member.isfile():
                    raise ReadError(f"the archive member {member.name!r} is a link or a special file; refused",
                                    file=name, feature=member.name)
                if not relative.parts or relative.suffix.lower().lstrip(".") not in _TAR_PARTS:
                    continue  # never unpacked, so never opened (.vrt, .gfs, .xsd ...)
                target = work / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                stream = archive.extractfile(member)
                if stream is None:
                    continue
                with stream:
                    budget.copy(stream, target, member.name, packed)
    except SpatialError:
        raise
    except FileExistsError:
        raise ReadError("the archive holds a file twice; refused", file=name) from None
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise ReadError(f"is not a readable archive: {exc}", file=name) from exc
    thf = sorted(p for p in work.rglob("*") if p.suffix.lower() == ".thf")
    if thf:
        for t in thf:
            _check_thf(t, f"{name}/{t.name}")
        return [
            _source(t, "edigeo", default_layers=("PARCELLE_id",), member=f"{name}/{t.name}")
            for t in thf
        ]
    vector = sorted(
        p
        for p in work.rglob("*")
        if p.suffix.lower() in (".gpkg", ".geojson", ".json", ".gml", ".shp")
    )
    sources = []
    for v in vector:
        where = f"{name}/{v.relative_to(work)}"
        with v.open("rb") as handle:
            kind = _kind(handle.read(8192), where)
        _check(kind, v, where)
        sources.append(_source(v, kind, member=where))
    if sources:
        return sources
    raise UnsupportedFormatError(
        "the archive holds no EDIGEO exchange (.THF) or other vector file", file=name
    )


def _check_thf(thf: Path, name: str) -> None:
    """The EDIGEO driver opens the files a .THF names (name + extension) beside it: only plain
    names, in the same folder, are accepted."""
    for line in thf.read_bytes().decode("latin-1").splitlines():
        found = _THF_NAMES.match(line.strip())
        if found and re.search(r"[/\\\\:]|\.\.", found.group(2)):
            raise ReadError(f"the EDIGEO exchange names a file outside its folder ({found.group(2)[:60]!r}); "
                            "refused", file=name)
