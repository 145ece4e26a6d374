"""GDAL as the upload readers need it: five drivers, no network, no virtual file systems.

Uploads are untrusted. GDAL, left to itself, picks whichever of its ~80 drivers claims a file
and follows whatever the file names: an OGR VRT reads any local file or URL into attribute
values, GML resolves xlinks and downloads schemas, SQLite runs stored SQL, ``/vsicurl/``
fetches URLs. `lock_down` (run once, at import of the GIS reader, for the whole process):

- deregisters every driver but the formats we document (`ALLOWED_DRIVERS`): GeoJSON, ESRI
  Shapefile, GPKG, GML, EDIGEO;
- removes the network and archive file systems (``/vsicurl/``, ``/vsis3/``, ``/vsizip/``...):
  archives are unpacked by `spatial.readers._sources` into a private folder, with limits;
- routes every HTTP request GDAL would make (schema downloads, CRS URLs) to a refusal;
- sets the configuration options that keep the remaining drivers on the file they were given
  (no xlink resolution, no schema download, no directory listing on open).

The GDAL library is the one pyogrio loaded; it is reached with ctypes because pyogrio exposes
neither driver registration nor the virtual file system table.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from pathlib import Path

import pyogrio

__all__ = ["ALLOWED_DRIVERS", "lock_down", "locked_down"]

log = logging.getLogger(__name__)

ALLOWED_DRIVERS = frozenset({"GeoJSON", "ESRI Shapefile", "GPKG", "GML", "EDIGEO"})
"""The drivers uploads are read with (the documented formats); every other one is removed."""

# Virtual file systems the readers never need: network ones (SSRF) and archive ones (we unpack
# archives ourselves, with limits). Plain files and /vsimem/ stay.
_REMOVED_PREFIXES = (
    "/vsicurl/", "/vsicurl_streaming/", "/vsis3/", "/vsis3_streaming/", "/vsigs/", "/vsigs_streaming/",
    "/vsiaz/", "/vsiaz_streaming/", "/vsiadls/", "/vsioss/", "/vsioss_streaming/", "/vsiswift/",
    "/vsiswift_streaming/", "/vsiwebhdfs/", "/vsihdfs/", "/vsizip/", "/vsitar/", "/vsigzip/", "/vsi7z/",
    "/vsirar/", "/vsisubfile/", "/vsisparse/", "/vsicrypt/", "/vsistdin/", "/vsicached?",
)

CONFIG_OPTIONS: dict[str, str] = {
    # GML: never follow xlink:href, never fetch a schema, never read a .gfs template we did not write.
    "GML_SKIP_RESOLVE_ELEMS": "ALL",
    "GML_DOWNLOAD_WFS_SCHEMA": "NO",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # Network, should a request get past the removed file systems and the fetch callback.
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".refused-by-cadastre",
    "GDAL_HTTP_PROXY": "127.0.0.1:9",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_MAX_RETRY": "0",
    # GeoPackage: no SQL functions of OGR from the file's own views and triggers.
    "ALLOW_OGR_SQL_FUNCTIONS_FROM_TRIGGER_AND_VIEW": "NO",
    # PROJ may fetch grids from its CDN.
    "PROJ_NETWORK": "OFF",
}

_lock = threading.Lock()
_done = False
_refusal: object = None  # keeps the ctypes callback alive


def _library() -> ctypes.CDLL | None:
    folder = Path(pyogrio.__file__).parent
    candidates = sorted((folder.parent / "pyogrio.libs").glob("libgdal*.so*")) + sorted(folder.glob("libgdal*"))
    for candidate in candidates:
        try:
            return ctypes.CDLL(str(candidate))
        except OSError:
            continue
    try:  # pyogrio built against a system GDAL: its symbols are in the process already
        process = ctypes.CDLL(None)
        process.GDALGetDriverCount  # noqa: B018
        return process
    except (OSError, AttributeError):
        return None


def locked_down() -> bool:
    return _done


def lock_down() -> None:
    """Apply the restrictions above to this process (idempotent). Raises RuntimeError when the
    GDAL library cannot be reached: reading untrusted files without them is not an option."""
    global _done, _refusal
    with _lock:
        if _done:
            return
        pyogrio.set_gdal_config_options(CONFIG_OPTIONS)
        gdal = _library()
        if gdal is None:
            raise RuntimeError("the GDAL library pyogrio uses cannot be reached to restrict its drivers")
        gdal.GDALGetDriverCount.restype = ctypes.c_int
        gdal.GDALGetDriver.restype = ctypes.c_void_p
        gdal.GDALGetDriver.argtypes = [ctypes.c_int]
        gdal.GDALGetDriverShortName.restype = ctypes.c_char_p
        gdal.GDALGetDriverShortName.argtypes = [ctypes.c_void_p]
        gdal.GDALDeregisterDriver.argtypes = [ctypes.c_void_p]
        gdal.GDALDeregisterDriver.restype = None
        pyogrio.list_drivers()  # makes sure pyogrio registered them before we remove most
        removed = []
        for index in reversed(range(gdal.GDALGetDriverCount())):
            driver = gdal.GDALGetDriver(index)
            name = (gdal.GDALGetDriverShortName(driver) or b"").decode()
            if name not in ALLOWED_DRIVERS and name != "MEM":
                gdal.GDALDeregisterDriver(driver)
                removed.append(name)
        gdal.VSIRemovePluginHandler.argtypes = [ctypes.c_char_p]
        for prefix in _REMOVED_PREFIXES:
            gdal.VSIRemovePluginHandler(prefix.encode())
        _refuse_http(gdal)
        _done = True
        log.debug("GDAL locked down: %d drivers removed", len(removed))


class _HTTPResult(ctypes.Structure):
    _fields_ = [("nStatus", ctypes.c_int), ("pszContentType", ctypes.c_char_p), ("pszErrBuf", ctypes.c_void_p),
                ("nDataLen", ctypes.c_int), ("nDataAlloc", ctypes.c_int), ("pabyData", ctypes.c_void_p),
                ("papszHeaders", ctypes.c_void_p), ("nMimePartCount", ctypes.c_int),
                ("pasMimePart", ctypes.c_void_p)]


def _refuse_http(gdal: ctypes.CDLL) -> None:
    """Every CPLHTTPFetch (schema download, a CRS given as a URL...) fails without a request."""
    callback_type = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
    gdal.CPLCalloc.restype = ctypes.c_void_p
    gdal.CPLCalloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    gdal.CPLStrdup.restype = ctypes.c_void_p
    gdal.CPLStrdup.argtypes = [ctypes.c_char_p]

    def refuse(url, options, progress, progress_arg, write, write_arg, user):  # type: ignore[no-untyped-def]
        log.warning("GDAL tried to fetch %r while reading an upload; refused", (url or b"")[:200])
        result = gdal.CPLCalloc(1, ctypes.sizeof(_HTTPResult))
        view = _HTTPResult.from_address(result)
        view.nStatus = 1
        view.pszErrBuf = gdal.CPLStrdup(b"network access is disabled while reading uploads")
        return result

    global _refusal
    _refusal = callback_type(refuse)
    gdal.CPLHTTPSetFetchCallback.argtypes = [callback_type, ctypes.c_void_p]
    gdal.CPLHTTPSetFetchCallback(_refusal, None)
