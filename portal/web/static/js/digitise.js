// Digitising a scanned drawing: upload the scan; click control points on it and type their
// printed coordinates; fit (residuals in metres, the worst point marked); warp and see the scan
// over the cadastre (opacity slider, swipe); trace parcels on the scan with Leaflet-Geoman (snapping to
// control points and to traced vertices); submit them as a survey submission. Every step goes
// through the JSON API under /api/digitisations.
(function () {
  "use strict";
  const headers = window.portalApi.headers, message = window.portalApi.message;  // static/js/api.js
  async function call(method, url, body) {
    const init = { method: method, headers: headers(body ? { "Content-Type": "application/json" } : {}), credentials: "same-origin" };
    if (body) init.body = JSON.stringify(body);
    const response = await fetch(url, init);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(message(data) || response.statusText);
    return data;
  }

  // The upload form.
  const form = document.getElementById("digitise-form");
  if (form) {
    const status = document.getElementById("digitise-status");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(form);
      ["crs", "scale", "page"].forEach((k) => { if (!data.get(k)) data.delete(k); });
      status.textContent = "…";
      status.className = "";
      const response = await fetch("/api/digitisations", { method: "POST", body: data, headers: headers(), credentials: "same-origin" });
      const body = await response.json().catch(() => ({}));
      if (response.status === 201) { window.location.href = "/surveys/digitise/" + body.digitisation_id; return; }
      status.textContent = message(body) || response.statusText;
      status.className = "error";
    });
    return;
  }

  const root = document.getElementById("digitise");
  if (!root) return;
  const id = root.dataset.id;
  const W = Number(root.dataset.width), H = Number(root.dataset.height);
  const api = "/api/digitisations/" + id;
  const text = (key) => root.dataset["msg" + key.charAt(0).toUpperCase() + key.slice(1)] || key;

  /* ---- the scan, in pixels: (column, row) is latLng(-row, column) ----
     Served as tiles from the pyramid built at upload: at zoom z <= 0 one tile pixel is 2^-z scan
     pixels (zoom 0 is full resolution, zooms above it magnify), so a point can be placed to a
     fraction of a pixel on a 14,000 x 10,000 scan without loading it whole. */
  const levels = Number(root.dataset.scanLevels || 0);
  const scan = L.map("scan-map", { crs: L.CRS.Simple, minZoom: -levels - 2, maxZoom: 4, zoomSnap: 0.25, attributionControl: false });
  const toLatLng = (c, r) => L.latLng(-r, c);
  const toPixel = (ll) => [ll.lng, -ll.lat];
  const scanTiles = L.tileLayer(api + "/scan-tiles/{z}/{x}/{y}.png", { tileSize: 256, noWrap: true,
    bounds: L.latLngBounds([[-H, 0], [0, W]]), minZoom: -levels - 2, maxZoom: 4, minNativeZoom: -levels, maxNativeZoom: 0 }).addTo(scan);
  scanTiles.on("tileload", (e) => { root.dataset.scanTileZoom = String(e.coords.z); });
  scan.fitBounds([[-H, 0], [0, W]]);
  const pointLayer = L.layerGroup().addTo(scan);
  let points = JSON.parse(root.dataset.points || "[]");
  let residuals = null;
  const body = document.getElementById("points-body");

  // Leaflet puts a string tooltip in as HTML: a person's words go in as a text node, never as markup.
  function plain(words) { const span = document.createElement("span"); span.textContent = String(words ?? ""); return span; }

  function mode() { return document.querySelector('input[name="mode"]:checked').value; }

  function renderPoints() {
    pointLayer.clearLayers();
    body.textContent = "";
    points.forEach((p, i) => {
      const r = residuals && residuals.residuals[i];
      const worst = residuals && residuals.worst === i;
      L.circleMarker(toLatLng(p.column, p.row), { radius: 6, color: worst ? "#b00020" : "#0057b7" })
        .bindTooltip(plain(p.label), { permanent: true, direction: "right" }).addTo(pointLayer);
      const row = document.createElement("tr");
      row.dataset.index = String(i);
      const cell = (content) => { const td = document.createElement("td"); td.append(content); row.append(td); return td; };
      const label = document.createElement("input");
      label.value = p.label; label.size = 5; label.setAttribute("aria-label", "label");
      label.addEventListener("change", () => { p.label = label.value; });
      cell(label);
      cell(p.column.toFixed(1) + ", " + p.row.toFixed(1));
      ["northing", "easting"].forEach((k) => {
        const input = document.createElement("input");
        input.inputMode = "decimal"; input.className = k; input.setAttribute("aria-label", text(k) + " " + p.label);
        input.value = p[k] === null || p[k] === undefined ? "" : String(p[k]);
        input.addEventListener("change", () => { p[k] = input.value.trim() === "" ? null : Number(input.value); });
        cell(input);
      });
      const res = cell(r ? r.distance_m.toFixed(3) + " m" : "");
      if (worst) res.className = "worst";
      const remove = document.createElement("button");
      remove.type = "button"; remove.textContent = text("remove");
      remove.addEventListener("click", () => { points.splice(i, 1); residuals = null; renderPoints(); });
      cell(remove);
      body.append(row);
    });
    root.dataset.pointCount = String(points.length);
  }
  // The row being filled: a click on the map gives its coordinates (snapped to a parcel corner).
  let active = null;
  body.addEventListener("focusin", (e) => { const tr = e.target.closest("tr"); if (tr) active = Number(tr.dataset.index); });
  scan.on("click", (e) => {
    if (mode() !== "points") return;
    const [c, r] = toPixel(e.latlng);
    if (c < 0 || r < 0 || c > W || r > H) return;
    points.push({ label: "J" + (points.length + 1), column: c, row: r, easting: null, northing: null });
    residuals = null;
    renderPoints();
    active = points.length - 1;
    body.lastElementChild.querySelector("input.northing").focus();
  });
  renderPoints();

  const fitStatus = document.getElementById("fit-status");
  async function savePoints() {
    const complete = points.filter((p) => Number.isFinite(p.easting) && Number.isFinite(p.northing));
    return call("PUT", api + "/control-points", { points: complete });
  }
  document.getElementById("fit").addEventListener("click", async () => {
    fitStatus.className = ""; fitStatus.textContent = "…";
    try {
      await savePoints();
      points = points.filter((p) => Number.isFinite(p.easting) && Number.isFinite(p.northing));
      residuals = await call("POST", api + "/fit", { transformation: document.getElementById("transformation").value });
      renderPoints();
      let line = "RMS " + residuals.rms_m.toFixed(3) + " m · " + residuals.residuals[residuals.worst].label + " " +
        residuals.residuals[residuals.worst].distance_m.toFixed(3) + " m";
      if (residuals.tolerance_m !== undefined) line += (residuals.within_tolerance ? " ≤ " : " > ") + residuals.tolerance_m.toFixed(2) + " m";
      fitStatus.textContent = line;
      root.dataset.rms = String(residuals.rms_m);
      if (residuals.within_tolerance === false) fitStatus.className = "error";
    } catch (error) { fitStatus.textContent = error.message; fitStatus.className = "error"; }
  });

  // The printed point table read by OCR: rows offered, each used only when the person picks it.
  document.getElementById("read-table").addEventListener("click", async () => {
    const box = document.getElementById("table-rows"), list = box.querySelector("ul");
    fitStatus.className = ""; fitStatus.textContent = "…";
    try {
      const read = await call("POST", api + "/point-table");
      list.textContent = "";
      read.rows.forEach((r) => {
        const item = document.createElement("li");
        const use = document.createElement("button");
        use.type = "button"; use.className = "use-row"; use.dataset.label = r.label;
        use.textContent = text("useRow");
        use.addEventListener("click", () => {
          if (active === null || !points[active]) return;
          Object.assign(points[active], { label: r.label, northing: r.northing, easting: r.easting });
          residuals = null; renderPoints();
        });
        item.append(r.label + "  X " + r.northing.toFixed(3) + "  Y " + r.easting.toFixed(3) + " ", use);
        list.append(item);
      });
      box.hidden = false;
      fitStatus.textContent = "";
    } catch (error) { fitStatus.textContent = error.message; fitStatus.className = "error"; }
  });

  /* ---- the map: the cadastre and the warped scan over it ---- */
  const map = L.map("overlay-map", { maxZoom: 22 });
  map.setView([30.2, 120.15], 15);
  if (L.vectorGrid) {
    const layer = root.dataset.parcelLayer;
    const style = {}; style[layer] = { weight: 1, color: "#333", fill: false };
    L.vectorGrid.protobuf(root.dataset.parcelTiles, { vectorTileLayerStyles: style, maxNativeZoom: 20, maxZoom: 22 }).addTo(map);
  }
  let overlay = null;
  const opacity = document.getElementById("opacity");
  function showOverlay(bounds) {
    if (overlay) map.removeLayer(overlay);
    overlay = L.tileLayer(api + "/tiles/{z}/{x}/{y}.png?v=" + Date.now(), { maxZoom: 22, maxNativeZoom: 22, opacity: opacity.value / 100 }).addTo(map);
    overlay.on("tileload", () => { root.dataset.overlayTiles = String(Number(root.dataset.overlayTiles || 0) + 1); });
    if (bounds && bounds.length === 4) map.fitBounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]]);
    clip();
  }
  map.on("click", async (e) => {
    if (mode() !== "points" || active === null || !points[active]) return;
    try {
      const found = await call("GET", api + "/snap?lon=" + e.latlng.lng + "&lat=" + e.latlng.lat);
      points[active].easting = found.easting;
      points[active].northing = found.northing;
      residuals = null;
      renderPoints();
      fitStatus.className = "";
      fitStatus.textContent = found.parcel_code ? found.parcel_code + " · " + found.distance_m.toFixed(2) + " m" : "";
    } catch (error) { fitStatus.textContent = error.message; fitStatus.className = "error"; }
  });
  opacity.addEventListener("input", () => { if (overlay) overlay.setOpacity(opacity.value / 100); });

  // Swipe: the overlay is clipped to the left of a line at `swipe` % of the map's width, the
  // cadastre alone to its right. The clip is in the overlay's layer coordinates, so it is set
  // again whenever the map moves.
  const swipe = document.getElementById("swipe");
  const line = L.DomUtil.create("div", "swipe-line", map.getContainer());
  function clip() {
    const size = map.getSize();
    const x = size.x * Number(swipe.value) / 100;
    swipe.setAttribute("aria-valuetext", swipe.value + " %");
    line.style.left = x + "px";
    line.hidden = !overlay || Number(swipe.value) >= 100;
    if (!overlay) return;
    const nw = map.containerPointToLayerPoint([0, 0]), se = map.containerPointToLayerPoint(size);
    overlay.getContainer().style.clip = "rect(" + [nw.y, nw.x + x, se.y, nw.x].join("px, ") + "px)";
    root.dataset.swipeX = String(x);
  }
  swipe.addEventListener("input", clip);
  map.on("move zoom resize viewreset", clip);
  clip();
  document.getElementById("warp").addEventListener("click", async () => {
    fitStatus.textContent = "…";
    try {
      const warped = await call("POST", api + "/warp");
      fitStatus.textContent = "EPSG:" + warped.crs + " · " + warped.pixel_size_m.toFixed(3) + " m/px";
      showOverlay(warped.lonlat_bounds);
    } catch (error) { fitStatus.textContent = error.message; fitStatus.className = "error"; }
  });
  if (root.dataset.warped === "true") showOverlay(JSON.parse(root.dataset.bounds || "[]"));

  /* ---- tracing on the scan (Leaflet-Geoman), snapping to control points and traced vertices ---- */
  const traced = [];
  const parcelsBody = document.getElementById("parcels-body");
  if (scan.pm) {
    scan.pm.addControls({ position: "topleft", drawMarker: false, drawCircleMarker: false, drawPolyline: false,
      drawRectangle: false, drawCircle: false, drawText: false, cutPolygon: false, rotateMode: false });
    scan.pm.setGlobalOptions({ snappable: true, snapDistance: 15, allowSelfIntersection: false });
    // Geoman's own words in the page's language; its buttons named for screen readers by their titles.
    scan.pm.setLang((document.documentElement.lang || "").startsWith("zh") ? "zh" : "en");
    scan.getContainer().querySelectorAll(".leaflet-pm-toolbar [title] > .leaflet-buttons-control-button").forEach((button) => {
      button.setAttribute("aria-label", button.parentElement.title);
    });
    scan.on("pm:drawstart", () => { document.querySelector('input[name="mode"][value="trace"]').checked = true; });
    scan.on("pm:create", (e) => {
      const entry = { layer: e.layer, code: "", use: "", area: "" };
      traced.push(entry);
      const row = document.createElement("tr");
      const n = document.createElement("td"); n.textContent = String(traced.length); row.append(n);
      [["code", text("code"), 19], ["use", text("use"), 4], ["area", text("area"), 10]].forEach(([k, name, size]) => {
        const td = document.createElement("td"); const input = document.createElement("input");
        input.size = size; input.className = k; input.setAttribute("aria-label", name + " " + traced.length);
        input.addEventListener("change", () => { entry[k] = input.value.trim(); });
        td.append(input); row.append(td);
      });
      const td = document.createElement("td"); const remove = document.createElement("button");
      remove.type = "button"; remove.textContent = text("remove");
      remove.addEventListener("click", () => { scan.removeLayer(entry.layer); traced.splice(traced.indexOf(entry), 1); row.remove(); });
      td.append(remove); row.append(td);
      parcelsBody.append(row);
      root.dataset.traced = String(traced.length);
      row.querySelector("input.code").focus();
    });
  }
  const submitStatus = document.getElementById("submit-status");
  document.getElementById("submit-parcels").addEventListener("click", async () => {
    submitStatus.className = ""; submitStatus.textContent = "…";
    try {
      const features = [];
      for (const entry of traced) {
        const ring = entry.layer.getLatLngs()[0].map(toPixel);
        const mapped = (await call("POST", api + "/to-map", { pixels: ring })).coordinates;
        mapped.push(mapped[0]);
        const properties = { parcel_code: entry.code, land_use_code: entry.use };
        if (entry.area) properties.declared_area = Number(entry.area);
        features.push({ type: "Feature", geometry: { type: "Polygon", coordinates: [mapped] }, properties: properties });
      }
      await call("PUT", api + "/parcels", { type: "FeatureCollection", features: features });
      const submission = await call("POST", api + "/submit", {});
      window.location.href = "/surveys/" + submission.id;
    } catch (error) { submitStatus.textContent = error.message; submitStatus.className = "error"; }
  });
  window.cadastreDigitise = { scan: scan, map: map, get overlay() { return overlay; } };  // for people debugging in the console, and the browser tests
  root.dataset.ready = "true";
})();
