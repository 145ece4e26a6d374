"""Where GDAL should look: single files, zipped shapefiles, and tar archives (EDIGEO).

GDAL writes side files next to what it opens (a .gfs for GML, SQLite journals for a
GeoPackage), so single files are opened from a private temporary copy: the uploaded file,
and any shared fixture, stays untouched. Zip members are read in place through /vsizip/.
"""

from __future__ import annotations

import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from spatial.errors import CrsError, ReadError, UnsupportedFormatError

__all__ = ["Source", "open_sources"]

_MAX_UNPACKED = 2 * 1024**3
_MAX_ZIP_UNPACKED = 512 * 1024**2
_MAX_RATIO = 100  # real shapefiles and GeoPackages compress 3-20 times; bombs a thousand
_RATIO_FROM = 10 * 1024**2


@dataclass(slots=True)
class Source:
    """One GDAL-openable path; `member` names it inside an archive, for messages."""

    path: str
    format: str
    default_layers: tuple[str, ...] = ()
    open_options: tuple[tuple[str, str], ...] = ()
    encoding: str | None = None
    member: str | None = None  # name inside an archive, for messages


@contextmanager
def open_sources(path: Path, name: str, crs: int | None) -> Iterator[list[Source]]:
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise ReadError(f"cannot be opened: {exc.strerror or exc}", file=name) from exc
    suffix = Path(name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="spatial-") as tmp:
        work = Path(tmp)
        if head.startswith(b"PK\x03\x04") or suffix == ".zip":
            yield _zip_sources(path, name, crs)
        elif (
            head.startswith(b"BZh")
            or head.startswith(b"\x1f\x8b")
            or _is_tar(path)
            or suffix in (".tar", ".bz2", ".tgz", ".gz")
        ):
            yield _archive_sources(path, name, work)
        elif suffix == ".shp" and Path(path).suffix.lower() == ".shp":
            # Its .shx, .dbf and .prj sit beside it; the driver writes nothing when reading.
            yield [Source(str(path), "shapefile")]
        else:
            _refuse_interlis(head, name)
            # GDAL names a GeoJSON layer after the file: keep the name where it is plain ASCII.
            stem = re.sub(r"[^A-Za-z0-9_-]", "_", Path(name).stem)[:60]
            if not re.search(r"[A-Za-z0-9]", stem):
                stem = "upload"
            copy = work / (stem + (suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""))
            shutil.copyfile(path, copy)
            opts: tuple[tuple[str, str], ...] = ()
            text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
            if text.startswith(b"<"):
                opts = (("DOWNLOAD_SCHEMA", "NO"),)
            yield [Source(str(copy), "", open_options=opts)]


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


def _refuse_bombs(infos: list[zipfile.ZipInfo], name: str) -> None:
    """Refuse archives that would unpack to far more than any survey: a decompression bomb
    would otherwise exhaust the server's memory or disk while GDAL reads it."""
    total = sum(i.file_size for i in infos)
    if total > _MAX_ZIP_UNPACKED:
        raise ReadError(f"the archive unpacks to {total:,} bytes, more than the {_MAX_ZIP_UNPACKED:,} accepted",
                        file=name)
    for info in infos:
        if info.file_size > _RATIO_FROM and info.file_size > _MAX_RATIO * max(info.compress_size, 1):
            raise ReadError(f"{info.filename!r} unpacks {info.file_size // max(info.compress_size, 1):,} times "
                            "its packed size: refused as a decompression bomb", file=name, feature=info.filename)


def _zip_sources(path: Path, name: str, crs: int | None) -> list[Source]:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ReadError(f"is not a readable zip archive: {exc}", file=name) from exc
    _refuse_bombs(infos, name)
    names = {i.filename.lower(): i.filename for i in infos}
    absolute = str(path.resolve())
    sources = []
    for info in infos:
        member = info.filename
        lower = member.lower()
        if "__macosx/" in lower:
            continue
        stem, ext = lower.rsplit(".", 1) if "." in lower else (lower, "")
        where = f"{name}/{member}"
        if ext == "shp":
            if f"{stem}.prj" not in names and crs is None:
                raise CrsError(
                    f"the shapefile {member!r} has no .prj file, so its CRS is unknown: add the "
                    ".prj to the archive or state the EPSG code when uploading",
                    file=name,
                    feature=member,
                )
            encoding = _dbf_encoding(path, names, stem)
            sources.append(
                Source(f"/vsizip/{absolute}/{member}", "shapefile", encoding=encoding, member=where)
            )
        elif ext in ("gpkg", "geojson", "json", "gml", "fgb", "kml", "sqlite"):
            opts = (("DOWNLOAD_SCHEMA", "NO"), ("WRITE_GFS", "NO")) if ext == "gml" else ()
            sources.append(
                Source(f"/vsizip/{absolute}/{member}", "", open_options=opts, member=where)
            )
        elif ext in ("xtf", "itf"):
            _refuse_interlis(b"", member)
    if not sources:
        listing = ", ".join(i.filename for i in infos[:8]) or "nothing"
        raise UnsupportedFormatError(
            f"the zip archive holds no shapefile (.shp with .shx, .dbf and .prj) or other vector "
            f"file; it holds {listing}",
            file=name,
        )
    return sources


def _dbf_encoding(path: Path, names: dict[str, str], stem: str) -> str | None:
    """GBK attribute tables without a .cpg file are common; GDAL would read them as Latin-1."""
    if f"{stem}.cpg" in names or f"{stem}.dbf" not in names:
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            data = archive.read(names[f"{stem}.dbf"])
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, EOFError, NotImplementedError):
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


def _archive_sources(path: Path, name: str, work: Path) -> list[Source]:
    """A tar archive (.tar.bz2 ...) such as a French EDIGEO sheet: unpack it and find the .THF."""
    try:
        with tarfile.open(path) as archive:
            members = [m for m in archive.getmembers() if m.isfile()]
            if sum(m.size for m in members) > _MAX_UNPACKED:
                raise ReadError("the archive unpacks to more than 2 GiB", file=name)
            archive.extractall(work, members=members, filter="data")
    except ReadError:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise ReadError(f"is not a readable archive: {exc}", file=name) from exc
    thf = sorted(p for p in work.rglob("*") if p.suffix.lower() == ".thf")
    if thf:
        return [
            Source(str(t), "edigeo", default_layers=("PARCELLE_id",), member=f"{name}/{t.name}")
            for t in thf
        ]
    vector = sorted(
        p
        for p in work.rglob("*")
        if p.suffix.lower() in (".gpkg", ".geojson", ".json", ".gml", ".shp")
    )
    if vector:
        return [Source(str(v), "", member=f"{name}/{v.relative_to(work)}") for v in vector]
    raise UnsupportedFormatError(
        "the archive holds no EDIGEO exchange (.THF) or other vector file", file=name
    )
