"""pygeoapi's HTML pages without a CDN: the portal must work with no internet.

pygeoapi's templates load Leaflet, Bootstrap, Swagger UI and more from unpkg, cdnjs and
jsDelivr. At start-up, every template that names another host is copied into a folder of ours
with those addresses pointed at the copies `scripts/vendor` put under /static/vendor; a script
or style sheet we do not serve (coverage viewers, charts, html5shiv, web fonts: none of our
collections needs them) is dropped. pygeoapi looks in that folder first and falls back to its
own templates for the rest. Generated, never hand-edited: a new pygeoapi is patched the same way.
The JSON-LD of an items page is patched too: pygeoapi's leaves a trailing comma (invalid JSON)
when the page has no feature, where it must be an empty list as in GeoJSON.
"""

from __future__ import annotations

import re
from pathlib import Path

import pygeoapi

__all__ = ["LOCAL_ASSETS", "local_templates"]

V = "/static/vendor"
LOCAL_ASSETS = {
    "https://unpkg.com/leaflet@1.3.1/dist/leaflet.css": f"{V}/leaflet/leaflet.css",
    "https://unpkg.com/leaflet@1.3.1/dist/leaflet.js": f"{V}/leaflet/leaflet.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet/1.3.1/leaflet.js": f"{V}/leaflet/leaflet.js",
    "https://unpkg.com/leaflet.vectorgrid@latest/dist/Leaflet.VectorGrid.bundled.js":
        f"{V}/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
    "https://unpkg.com/leaflet.markercluster/dist/leaflet.markercluster-src.js":
        f"{V}/leaflet.markercluster/leaflet.markercluster-src.js",
    "https://unpkg.com/leaflet.markercluster/dist/MarkerCluster.css": f"{V}/leaflet.markercluster/MarkerCluster.css",
    "https://unpkg.com/leaflet.markercluster/dist/MarkerCluster.Default.css":
        f"{V}/leaflet.markercluster/MarkerCluster.Default.css",
    "https://unpkg.com/bootstrap@5.1.3/dist/css/bootstrap.min.css": f"{V}/bootstrap/bootstrap.min.css",
    "https://unpkg.com/swagger-ui-dist/swagger-ui.css": f"{V}/swagger-ui-dist/swagger-ui.css",
    "https://unpkg.com/swagger-ui-dist/swagger-ui-bundle.js": f"{V}/swagger-ui-dist/swagger-ui-bundle.js",
    "https://unpkg.com/swagger-ui-dist/swagger-ui-standalone-preset.js":
        f"{V}/swagger-ui-dist/swagger-ui-standalone-preset.js",
    "https://unpkg.com/swagger-ui-dist/favicon-32x32.png": f"{V}/swagger-ui-dist/favicon-32x32.png",
    "https://unpkg.com/swagger-ui-dist/favicon-16x16.png": f"{V}/swagger-ui-dist/favicon-16x16.png",
}
_EXTERNAL_TAG = re.compile(
    r"<script\b[^>]*\bsrc=[\"']https?://[^\"']*[\"'][^>]*>\s*</script>"
    r"|<link\b[^>]*\bhref=[\"']https?://(?!schema\.org|www\.opengis\.net)[^\"']*[\"'][^>]*/?>",
    re.IGNORECASE)


def _localise(text: str) -> str:
    for remote, local in LOCAL_ASSETS.items():
        text = text.replace(remote, local)
    return _EXTERNAL_TAG.sub("", text)


# pygeoapi writes `"features"` only when there are some, after a comma it writes regardless.
_OPTIONAL_FEATURES = ('{%- if data.features %}\n    "features": [', '    "features": [')
_OPTIONAL_FEATURES_END = (']\n    {%- endif %}\n}', ']\n}')


def _with_empty_features(text: str) -> str:
    """The items JSON-LD template with `"features": []` on an empty page."""
    for old, new in (_OPTIONAL_FEATURES, _OPTIONAL_FEATURES_END):
        if old not in text:  # another pygeoapi: leave it (tests/layers would tell)
            return text
        text = text.replace(old, new)
    return text


def local_templates(folder: Path) -> Path:
    """Write the patched templates into `folder` (once per pygeoapi version) and return it."""
    source = Path(pygeoapi.__file__).parent / "templates"
    target = folder / f"pygeoapi-{pygeoapi.__version__}"
    stamp = target / ".complete-2"  # -2: with the items JSON-LD patched
    if stamp.exists():
        return target
    for template in source.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        if "://" not in text:
            continue
        patched = _localise(text)
        if patched != text:
            out = target / template.relative_to(source)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(patched, encoding="utf-8")
    items_jsonld = Path("collections") / "items" / "index.jsonld"
    text = (source / items_jsonld).read_text(encoding="utf-8")
    if (patched := _with_empty_features(text)) != text:
        (target / items_jsonld).parent.mkdir(parents=True, exist_ok=True)
        (target / items_jsonld).write_text(patched, encoding="utf-8")
    target.mkdir(parents=True, exist_ok=True)
    stamp.touch()
    return target
