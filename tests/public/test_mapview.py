"""The folium map set-up: only the portal's own copies of scripts and styles, tiles from the
setting, base map only when configured."""

from __future__ import annotations

import re

from portal.public.mapview import VENDOR_CSS, VENDOR_JS, build_map
from portal.settings import MapSettings, PortalSettings, Settings
from portal.web import STATIC_DIR

LABELS = {"parcels": "Parcels", "admin_areas": "Boundaries", "basemap": "Base map"}
AREA = [{"code": "330102", "name": "上城区", "bbox": [120.1, 30.2, 120.2, 30.3],
         "geometry": {"type": "MultiPolygon", "coordinates": [[[[120.1, 30.2], [120.2, 30.2],
                                                                [120.2, 30.3], [120.1, 30.2]]]]}}]


def test_no_cdn_and_every_linked_file_is_installed() -> None:
    parts = build_map(Settings(), LABELS, AREA, [120.1, 30.2, 120.2, 30.3])
    html = parts.head + parts.body + parts.script
    assert "://" not in html, "nothing may load from another host"
    linked = re.findall(r'(?:src|href)="(/static/[^"]+)"', parts.head)
    assert sorted(linked) == sorted([*VENDOR_JS.values(), *VENDOR_CSS.values()])
    for path in linked:
        assert (STATIC_DIR / path.removeprefix("/static/")).is_file(), f"{path}: run scripts/setup"
    assert "L.tileLayer" not in parts.script
    assert "/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt" in parts.script
    assert f"var {parts.map_name} = L.map" in parts.script and "fitBounds" in parts.script


def test_tiles_and_base_map_come_from_settings() -> None:
    settings = Settings(portal=PortalSettings(basemap_url="/basemap/{z}/{x}/{y}.png"),
                        map=MapSettings(parcel_tiles_url="/cache/parcels/{z}/{x}/{y}.pbf",
                                        parcels_min_zoom=15))
    parts = build_map(settings, LABELS, [], None)
    assert "L.tileLayer(" in parts.script
    assert "/basemap/{z}/{x}/{y}.png" in parts.script
    assert "/cache/parcels/{z}/{x}/{y}.pbf" in parts.script and "minZoom: 15" in parts.script
    assert "fitBounds" not in parts.script
