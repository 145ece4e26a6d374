"""The map on the home page, built with folium (Leaflet) and served without any CDN.

folium writes the Leaflet set-up (map, scale bar, vector tile layer, administrative
boundaries, layer switcher); this module points every script and style sheet it would load
from a CDN at the copies `scripts/vendor` put under /static/vendor, and hands the page the
pieces to place in the shared layout. The page's own behaviour (search, panel, labels) is
static/js/map.js, which finds the map and the layer switcher by the names given here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import folium
from branca.element import Figure
from folium.plugins import VectorGridProtobuf
from markupsafe import Markup

from portal.settings import Settings

__all__ = ["LAND_USE_COLOURS", "MapParts", "VENDOR_JS", "VENDOR_CSS", "build_map"]

# Fill colours of the twelve GB/T 21010 first-level classes, after the usual land-use map palette.
LAND_USE_COLOURS = {
    "01": "#f3e68a", "02": "#c7e08a", "03": "#5aa05a", "04": "#a8d08d", "05": "#e45b5b",
    "06": "#b07a4f", "07": "#f2a65a", "08": "#d977b7", "09": "#8f6fb8", "10": "#9e9e9e",
    "11": "#6fb3e0", "12": "#d8cfc4",
}
VENDOR_JS = {
    "leaflet": "/static/vendor/leaflet/leaflet.js",
    "vectorGrid": "/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
}
VENDOR_CSS = {"leaflet_css": "/static/vendor/leaflet/leaflet.css"}


@dataclass(frozen=True)
class MapParts:
    """What the page template places: links in <head>, the map element, and the map script."""

    head: Markup
    body: Markup
    script: Markup
    map_name: str
    control_name: str
    parcels_name: str


def _parcel_style(layer: str, min_zoom: int, max_zoom: int) -> str:
    # A JavaScript function: VectorGrid styles each feature by its land-use class.
    colours = json.dumps(LAND_USE_COLOURS)
    return (
        "{vectorTileLayerStyles: {" + json.dumps(layer) + ": function (p, z) {"
        " var c = " + colours + "[String(p.land_use_code || '').slice(0, 2)] || '#cccccc';"
        " return {weight: z >= 17 ? 1.2 : 0.6, color: '#4a4a4a', opacity: 0.9,"
        " fill: true, fillColor: c, fillOpacity: 0.45};"
        f" }}}}, rendererFactory: L.canvas.tile, interactive: false, minZoom: {min_zoom},"
        f" maxZoom: {max_zoom}}}"
    )


def build_map(settings: Settings, labels: dict[str, str], admin_areas: list[dict[str, Any]],
              extent: list[float] | None) -> MapParts:
    """A folium map of the cadastre: parcels from vector tiles over the optional base map."""
    map_settings = settings.map
    m = folium.Map(location=[30.25, 120.17], zoom_start=14, tiles=None, control_scale=False,
                   max_zoom=map_settings.max_zoom, prefer_canvas=True)
    m.default_js = [("leaflet", VENDOR_JS["leaflet"])]
    m.default_css = [("leaflet_css", VENDOR_CSS["leaflet_css"])]
    if settings.portal.basemap_url:
        folium.TileLayer(settings.portal.basemap_url, name=labels["basemap"], attr=" ",
                         overlay=False, control=True, max_zoom=map_settings.max_zoom).add_to(m)

    if admin_areas:
        features = [{"type": "Feature", "geometry": a["geometry"],
                     "properties": {"code": a["code"], "name": a["name"]}} for a in admin_areas]
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features}, name=labels["admin_areas"],
            style_function=lambda _: {"color": "#7a1f5c", "weight": 2.5, "dashArray": "8 4",
                                      "fill": False},
            interactive=False, control=True,
        ).add_to(m)

    parcels = VectorGridProtobuf(map_settings.parcel_tiles_url, labels["parcels"],
                                 _parcel_style(map_settings.parcel_tiles_layer,
                                                map_settings.parcels_min_zoom,
                                                map_settings.max_zoom))
    parcels.default_js = [("vectorGrid", VENDOR_JS["vectorGrid"])]
    parcels.add_to(m)
    control = folium.LayerControl(position="topleft", collapsed=True)
    control.add_to(m)
    if extent:
        m.fit_bounds([[extent[1], extent[0]], [extent[3], extent[2]]])

    root = m.get_root()
    assert isinstance(root, Figure)  # a folium Map always sits in a Figure
    root.render()
    head = "\n".join(
        child.render() for name, child in root.header._children.items()
        if name not in ("meta_http", m.get_name())  # our layout has its own meta and map style
    )
    return MapParts(head=Markup(head), body=Markup(root.html.render()),
                    script=Markup(root.script.render()), map_name=m.get_name(),
                    control_name=control.get_name(), parcels_name=parcels.get_name())
