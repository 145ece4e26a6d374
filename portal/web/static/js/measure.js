/* Measuring on the map page: a distance along a line or the area of a polygon drawn by the user.
   leaflet-geoman draws (taps on phones, clicks with a mouse; its hints in the page's language);
   this script only computes and shows the figures. They are true ground figures: every vertex is
   projected (proj4, via map.js's gaussKruger) to the CGCS2000 3° Gauss-Krüger zone of the first
   vertex (GB/T 17798 zoning, GRS 80 ellipsoid), where the cadastre's own areas are computed, and
   measured in that plane: lengths in metres, areas by the shoelace formula in m² on coordinates
   taken from the first vertex (zone-prefixed eastings near 4e7 times northings near 3e6 would
   round each product to 1/128 m²), the scale error of the zone under 1.5° from its central
   meridian being below 0.03 %. A polygon whose edges cross has no area: geoman refuses the
   crossing vertex (allowSelfIntersection: false) and the figures say why; areaOf returns null. Shown as surveyors write
   them: m (km from 1 km), m² with 亩 (1 亩 = 10000/15 m²) in Chinese or ha in English.
   Without a pointer: the tools are buttons, and while measuring Enter on the focused map adds a
   vertex at its centre (marked by a ring), where the arrow keys have panned it. geoman's markers
   (the cursor ring, the vertices) are kept out of the tab order, so Tab goes from the map to the
   buttons; after Finish, focus goes to the tool just used (Finish hides itself).
   window.portalMap.measure exposes the computation (lengthOf, areaOf) and the state. */
(function () {
  "use strict";
  var P = window.portalMap, map = P.map, T = P.text;
  if (!map.pm || !P.gaussKruger) return;  // geoman or proj4 missing: no measuring, the map still works
  var SQM_PER_MU = 10000 / 15;
  var drawn = L.layerGroup().addTo(map);
  var shape = null, working = null;

  function planar(latlngs) {
    var zone = Math.round(latlngs[0].lng / 3);
    return {zone: zone, points: latlngs.map(function (ll) {
      // the first vertex's zone for every vertex: one plane, even across a zone boundary
      var gk = P.gaussKruger(ll.lng, ll.lat, zone);
      return [gk.y, gk.x];  // easting, northing
    })};
  }
  function lengthOf(latlngs, closed) {  // metres along the vertices (and back to the first)
    if (latlngs.length < 2) return 0;
    var pts = planar(latlngs).points, total = 0;
    for (var i = 1; i < pts.length; i++) total += Math.hypot(pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]);
    if (closed) total += Math.hypot(pts[0][0] - pts[pts.length - 1][0], pts[0][1] - pts[pts.length - 1][1]);
    return total;
  }
  function relative(pts) {  // the same plane, origin at the first vertex: small numbers, exact products
    var x0 = pts[0][0], y0 = pts[0][1];
    return pts.map(function (p) { return [p[0] - x0, p[1] - y0]; });
  }
  function crosses(p, q, r, s) {  // whether segments pq and rs cross (touching at an end is not crossing)
    function side(a, b, c) { var v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]); return v > 0 ? 1 : v < 0 ? -1 : 0; }
    var d1 = side(r, s, p), d2 = side(r, s, q), d3 = side(p, q, r), d4 = side(p, q, s);
    return d1 * d2 < 0 && d3 * d4 < 0;
  }
  function selfIntersects(pts) {  // any two edges of the closed ring that are not neighbours cross
    var n = pts.length;
    for (var i = 0; i < n; i++) {
      for (var j = i + 2; j < n; j++) {
        if (i === 0 && j === n - 1) continue;  // the closing edge neighbours the first
        if (crosses(pts[i], pts[(i + 1) % n], pts[j], pts[(j + 1) % n])) return true;
      }
    }
    return false;
  }
  function areaOf(latlngs) {  // m², the polygon's area in the zone's plane; null when its edges cross
    if (latlngs.length < 3) return 0;
    var pts = relative(planar(latlngs).points), twice = 0;
    if (selfIntersects(pts)) return null;
    for (var i = 0; i < pts.length; i++) {
      var a = pts[i], b = pts[(i + 1) % pts.length];
      twice += a[0] * b[1] - b[0] * a[1];
    }
    return Math.abs(twice) / 2;
  }
  function num(value, places) {
    return Number(value).toLocaleString(P.lang, {minimumFractionDigits: places, maximumFractionDigits: places});
  }
  function fmtLength(m) { return m >= 1000 ? num(m / 1000, 3) + " " + T.kilometres : num(m, 2) + " " + T.metres; }
  function fmtArea(m2) {
    var extra = P.lang === "en" ? num(m2 / 10000, 4) + " " + T.hectares : num(m2 / SQM_PER_MU, 2) + " " + T.mu;
    return num(m2, 2) + " " + T.square_metres + " (" + extra + ")";
  }

  /* ---- the control: two tools, finish, clear, and the figures (read out when they change) ---- */
  var box, buttons = {}, result;
  var Control = L.Control.extend({options: {position: "topleft"}, onAdd: function () {
    box = L.DomUtil.create("div", "leaflet-bar measure-control");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", T.measure);
    [["Line", T.measure_distance, "⟷"], ["Polygon", T.measure_area, "▱"]].forEach(function (tool) {
      var b = L.DomUtil.create("button", "measure-tool", box);
      b.type = "button";
      b.textContent = tool[2];
      b.setAttribute("aria-label", tool[1]);
      b.setAttribute("title", tool[1]);
      b.setAttribute("aria-pressed", "false");
      b.dataset.shape = tool[0];
      L.DomEvent.on(b, "click", function (e) { L.DomEvent.stop(e); start(tool[0]); });
      buttons[tool[0]] = b;
    });
    [["finish", T.measure_finish, "✓", finish], ["clear", T.measure_clear, "✕", clear]].forEach(function (item) {
      var b = L.DomUtil.create("button", "measure-" + item[0], box);
      b.type = "button";
      b.textContent = item[2];
      b.setAttribute("aria-label", item[1]);
      b.setAttribute("title", item[1]);
      b.hidden = true;
      L.DomEvent.on(b, "click", function (e) { L.DomEvent.stop(e); item[3](); });
      buttons[item[0]] = b;
    });
    result = L.DomUtil.create("p", "measure-result", box);
    result.setAttribute("role", "status");
    result.setAttribute("aria-live", "polite");
    result.hidden = true;
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    return box;
  }});
  new Control().addTo(map);
  map.pm.setLang(P.lang === "en" ? "en" : "zh");

  function say(text) { result.hidden = !text; result.textContent = text || ""; box.dataset.figures = text || ""; }
  function figures(latlngs, kind) {
    var state = {kind: kind, vertices: latlngs.length, zone: latlngs.length ? Math.round(latlngs[0].lng / 3) : null};
    if (kind === "Line") state.length = lengthOf(latlngs, false);
    else { state.area = areaOf(latlngs); state.perimeter = lengthOf(latlngs, true); }
    P.measure.last = state;
    if (kind === "Line") return latlngs.length < 2 ? T.measure_hint_distance : T.distance_result.replace("{value}", fmtLength(state.length));
    if (latlngs.length < 3) return T.measure_hint_area;
    if (state.area === null) return T.measure_crossing;
    return T.area_result.replace("{value}", fmtArea(state.area)) + " · " + T.perimeter + " " + fmtLength(state.perimeter) +
      " · " + T.measure_basis.replace("{zone}", state.zone);
  }
  function start(kind) {
    if (shape) map.pm.disableDraw();
    drawn.clearLayers();
    shape = kind;
    P.measuring = true;
    map.getContainer().classList.add("measuring");
    Object.keys(buttons).forEach(function (k) { if (buttons[k].dataset.shape) buttons[k].setAttribute("aria-pressed", String(k === kind)); });
    buttons.finish.hidden = false;
    buttons.clear.hidden = false;
    map.pm.enableDraw(kind, {snappable: false, continueDrawing: false, allowSelfIntersection: false,
      templineStyle: {color: "#b3261e"}, hintlineStyle: {color: "#b3261e", dashArray: "5 5"},
      pathOptions: {color: "#b3261e", weight: 3, fillOpacity: 0.1}});
    say(kind === "Line" ? T.measure_hint_distance : T.measure_hint_area);
    untabbable();
  }
  function untabbable() {  // geoman's markers (cursor ring, vertices) are no tab stops: Tab goes map -> buttons
    map.getContainer().querySelectorAll(".marker-icon").forEach(function (el) {
      el.tabIndex = -1;
      el.setAttribute("aria-hidden", "true");
    });
  }
  map.on("pm:drawstart", function (e) {
    working = e.workingLayer;
    untabbable();
    working.on("pm:vertexadded", function () { untabbable(); say(figures(working.getLatLngs(), shape)); });
  });
  // geoman turns the hint line red and refuses the vertex where the edges would cross: say why
  map.on("pm:intersect", function () { if (working) say(T.measure_crossing); });
  map.on("pm:create", function (e) {
    var layer = e.layer, latlngs = layer.getLatLngs();
    if (shape === "Polygon") latlngs = latlngs[0];
    drawn.addLayer(layer);
    layer.options.interactive = false;
    say(figures(latlngs, shape));
    stop(false);
  });
  function stop(clearFigures) {
    if (shape && map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
    // Finish is about to hide: keep the keyboard user's place on the tool just used, not <body>
    if (shape && document.activeElement === buttons.finish) buttons[shape].focus();
    shape = null;
    working = null;
    map.getContainer().classList.remove("measuring");
    buttons.finish.hidden = true;
    Object.keys(buttons).forEach(function (k) { if (buttons[k].dataset.shape) buttons[k].setAttribute("aria-pressed", "false"); });
    // the click that closed the shape must not open a parcel: measuring ends after this turn
    setTimeout(function () { P.measuring = false; }, 0);
    if (clearFigures) say("");
  }
  function finish() {
    var draw = shape && map.pm.Draw[shape];
    if (draw && working && working.getLatLngs().length >= (shape === "Line" ? 2 : 3)) draw._finishShape();
  }
  function clear() {
    stop(true);
    drawn.clearLayers();
    buttons.clear.hidden = true;
    P.measure.last = null;
    buttons.Line.focus();
  }
  map.getContainer().addEventListener("keydown", function (e) {
    // keyboard drawing: the centre of the map is the pointer (geoman's own vertex placement)
    var draw = shape && map.pm.Draw[shape];
    if (e.key !== "Enter" || e.target !== map.getContainer() || !draw || typeof draw._createVertex !== "function") return;
    e.preventDefault();
    draw._createVertex({latlng: map.getCenter()});
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && shape) { stop(false); say(""); buttons[Object.keys(buttons)[0]].focus(); }
  });
  P.measure = {lengthOf: lengthOf, areaOf: areaOf, last: null};
})();
