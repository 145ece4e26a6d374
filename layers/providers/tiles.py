"""pygeoapi MVT provider: tile-set metadata for pygeoapi's tiles pages, tiles from layers.sql.

pygeoapi serves `/collections/{id}/tiles` and its metadata through this provider; the tiles
themselves are normally served (and cached) by `layers.routes`, which answers the same URL
first. `get_tiles` stays correct for anyone who calls the provider directly.
"""

from __future__ import annotations

from typing import Any

from pygeoapi.models.provider.base import LinkType, TileMatrixSetEnum, TileSetMetadata
from pygeoapi.provider.base_mvt import BaseMVTProvider
from pygeoapi.provider.tile import ProviderTileNotFoundError
from pygeoapi.util import url_join

from layers.catalog import COLLECTIONS
from layers.pool import pool_for
from layers.sql import TileSpec, tile_statement

__all__ = ["TileProvider"]

METADATA_FORMATS = ("json", "tilejson", "html", "jsonld")


class TileProvider(BaseMVTProvider):  # type: ignore[misc]  # pygeoapi has no types: its base class is Any
    """Mapbox vector tiles (WebMercatorQuad) of one collection (provider option `collection`)."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.collection = COLLECTIONS[provider_def["collection"]]
        options = provider_def.get("options") or {}
        self.spec = TileSpec(int(options.get("extent", 4096)), int(options.get("buffer", 64)),
                             int(options.get("max_features", 20_000)))
        self._pool_max_size = int(options.get("pool_max_size", 8))
        self._service_url = ""
        self._service_metadata_url = ""

    def get_layer(self) -> str:
        return self.collection.tile_layer

    def get_tiling_schemes(self) -> list[Any]:
        return [TileMatrixSetEnum.WEBMERCATORQUAD.value]

    def get_tiles_service(self, baseurl: Any = None, servicepath: Any = None,
                          dirpath: Any = None, tile_type: Any = None) -> dict[str, Any]:
        super().get_tiles_service(baseurl, servicepath, dirpath, tile_type)
        self._service_url = servicepath
        links: dict[str, Any] = self.get_tms_links()
        for link in links["links"]:
            if link["rel"] == "describedby":  # pygeoapi points at its JSON: ours is TileJSON
                link["href"] = link["href"].replace("?f=json", "?f=tilejson")
        return links

    def get_tiles(self, layer: Any = None, tileset: Any = None, z: Any = None, y: Any = None,
                  x: Any = None, format_: Any = None) -> bytes | None:
        z, y, x = int(z), int(y), int(x)
        if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
            raise ProviderTileNotFoundError("tile outside the tile matrix set")
        statement, params = tile_statement(self.collection, z, x, y, self.spec)
        with pool_for(self.data, self._pool_max_size).connection() as conn:
            row = conn.execute(statement, params, prepare=True).fetchone()
        return bytes(row[0]) if row and row[0] else None

    def get_metadata(self, dataset: str, server_url: str, layer: Any = None,
                     tileset: Any = None, metadata_format: Any = None, title: Any = None,
                     description: Any = None, keywords: Any = None,
                     **kwargs: Any) -> dict[str, Any]:
        """The tile set's metadata; JSON when the client named no format we offer (no `f`,
        or an `Accept` of */* or image/png), where pygeoapi would fail."""
        if str(metadata_format).lower() not in METADATA_FORMATS:  # None, or an Accept of png
            metadata_format = "json"
        result: dict[str, Any] = super().get_metadata(
            dataset, server_url, layer, tileset, metadata_format, title, description,
            keywords, **kwargs)
        return result

    def get_html_metadata(self, dataset: str, server_url: str, layer: Any, tileset: str,
                          title: Any, description: Any, keywords: Any,
                          **kwargs: Any) -> dict[str, Any]:
        service_url = url_join(server_url, f"collections/{dataset}/tiles/{tileset}",
                               "{tileMatrix}/{tileRow}/{tileCol}?f=mvt")
        metadata_url = url_join(server_url, f"collections/{dataset}/tiles/{tileset}/metadata")
        return {"id": dataset, "title": title, "tileset": tileset,
                "collections_path": service_url, "json_url": f"{metadata_url}?f=json"}

    def get_default_metadata(self, dataset: str, server_url: str, layer: Any, tileset: str,
                             title: Any, description: Any, keywords: Any,
                             **kwargs: Any) -> dict[str, Any]:
        scheme = TileMatrixSetEnum.WEBMERCATORQUAD.value
        service_url = url_join(server_url, f"collections/{dataset}/tiles/{tileset}",
                               "{tileMatrix}/{tileRow}/{tileCol}?f=mvt")
        content = TileSetMetadata(title=title, description=description, keywords=keywords,
                                  crs=scheme.crs, tileMatrixSetURI=scheme.tileMatrixSetURI)
        content.links = [
            LinkType(href=url_join(server_url, "tileMatrixSets", scheme.tileMatrixSet),
                     rel="http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                     type_="application/json",
                     title=f"{scheme.tileMatrixSet} tile matrix set definition"),
            LinkType(href=service_url, rel="item", type_="application/vnd.mapbox-vector-tile",
                     title=f"{tileset} vector tiles for {self.get_layer()}"),
            LinkType(href=url_join(server_url, f"collections/{dataset}/tiles/{tileset}",
                                   "metadata?f=tilejson"),
                     rel="describedby", type_="application/json",
                     title="Collection metadata in TileJSON format"),
        ]
        result: dict[str, Any] = content.model_dump(exclude_none=True)
        # pygeoapi's models name `type` and `license` with a trailing underscore, and give
        # no alias: the JSON must carry the names of the standard, which clients look for.
        for link in result.get("links", []):
            if "type_" in link:
                link["type"] = link.pop("type_")
        if "license_" in result:
            result["license"] = result.pop("license_")
        return result

    def __repr__(self) -> str:
        return f"<TileProvider {self.collection.id}>"
