/* The map page's behaviour: parcel panel on click (or Enter), search with suggestions,
   parcel-code labels at high zoom. The Leaflet map itself is set up by folium (mapview.py);
   window.portalMap names it. Text comes from the page's catalog; every value from the API is
   inserted as text, never as HTML. */
(function () {
  "use strict";
  var P = window.portalMap, map = P.map, T = P.text;
  var panel = document.getElementById("parcel-panel");
  var panelTitle = document.getElementById("parcel-panel-title");
  var panelBody = document.getElementById("parcel-panel-body");
  var highlight = null, lastFocus = null;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  function fmtDate(value) {  // one date format per language, on the office's clock: 2026年12月6日 / 6 Dec 2026
    if (!value) return "—";
    var date = /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(value + "T00:00:00+08:00") : new Date(value);
    return date.toLocaleDateString(P.lang === "en" ? "en-GB" : "zh-CN",
      {year: "numeric", month: P.lang === "en" ? "short" : "long", day: "numeric", timeZone: T.zone || "Asia/Shanghai"});
  }
  function district(area) { return (T.districts && T.districts[area.code]) || area.name; }
  function fmtArea(value) {
    return Number(value).toLocaleString(P.lang, {minimumFractionDigits: 2, maximumFractionDigits: 2}) + " " + T.square_metres;
  }
  function landUse(use) { return use.code + " " + (P.lang === "en" ? use.name_en : use.name_zh); }
  function getJSON(url, signal) {
    return fetch(url, {headers: {Accept: "application/json"}, signal: signal}).then(function (r) {
      if (r.status === 404) return null;
      if (!r.ok) throw new Error(r.status + " " + r.statusText);
      return r.json();
    });
  }

  /* ---- parcel panel ---- */
  function row(label, value) {
    return [el("dt", {text: label}), el("dd", {text: value})];
  }
  function section(title, content) {
    return el("section", {}, [el("h3", {text: title})].concat(content));
  }
  function parcelLink(code) {
    var a = el("a", {href: "?parcel=" + encodeURIComponent(code), text: code, className: "parcel-link"});
    a.addEventListener("click", function (ev) { ev.preventDefault(); showParcel(code, true); });
    return a;
  }
  function renderParcel(p) {
    panelTitle.textContent = T.parcel + " " + p.parcel_code;
    panelBody.textContent = "";
    if (!p.current) panelBody.appendChild(el("p", {className: "retired-banner", role: "note", text: T.retired + " · " + fmtDate(p.end_lifespan)}));
    var facts = el("dl", {className: "facts"});
    [row(T.parcel_code, p.parcel_code), row(T.area, fmtArea(p.area)),
     row(T.land_use, landUse(p.land_use)),
     row(T.admin_area, district(p.admin_area) + " (" + p.admin_area.code + ")"),
     row(T.valid_from, fmtDate(p.valid_from)),
     row(T.version, p.version + " · " + T.since + " " + fmtDate(p.begin_lifespan))
    ].forEach(function (pair) { facts.appendChild(pair[0]); facts.appendChild(pair[1]); });
    panelBody.appendChild(facts);

    // A retired parcel has no rights or restrictions to check: no check button for it.
    var actions = el("p", {className: "actions"}, [
      p.current ? el("a", {className: "button", id: "check-restrictions",
               href: "/check?parcel=" + encodeURIComponent(p.parcel_code), text: T.check_restrictions}) : null,
      el("a", {className: "button secondary", href: "/parcels/" + encodeURIComponent(p.parcel_code) + "/sheet.pdf",
               text: T.print_sheet}),
      el("a", {href: "/parcels/" + encodeURIComponent(p.parcel_code), text: T.details})
    ]);
    panelBody.appendChild(actions);
    panelBody.appendChild(el("p", {className: "hint", text: p.current ? T.check_hint : T.retired_no_check}));

    var units;
    if (p.units.length) {
      var tbody = el("tbody");
      p.units.forEach(function (u) {
        tbody.appendChild(el("tr", {}, [el("td", {className: "code", text: u.unit_number}), el("td", {text: u.location})]));
      });
      units = [el("table", {className: "units"}, [
        el("thead", {}, [el("tr", {}, [el("th", {scope: "col", text: T.unit_number}), el("th", {scope: "col", text: T.location})])]),
        tbody])];
    } else {
      units = [el("p", {className: "hint", text: T.no_units})];
    }
    panelBody.appendChild(section(T.units + " (" + p.units.length + ")", units));

    var history = el("ol", {className: "history"});
    p.history.forEach(function (h) {
      history.appendChild(el("li", {text: T.version + " " + h.version + ": " + fmtDate(h.begin_lifespan) + " – " +
        (h.end_lifespan ? fmtDate(h.end_lifespan) : T.now) + " · " + landUse(h.land_use) + " · " + fmtArea(h.area)}));
    });
    var lineage = el("ul", {className: "lineage"});
    p.lineage.forEach(function (l) {
      var what = (l.relation === "parent" ? T.came_from : T.went_into) + " (" + (T["event_" + l.event] || l.event) + ", " + fmtDate(l.recorded_at) + "): ";
      lineage.appendChild(el("li", {}, [document.createTextNode(what), parcelLink(l.parcel_code)]));
    });
    var historyContent = [history];
    if (p.lineage.length) historyContent.push(el("h4", {text: T.lineage}), lineage);
    panelBody.appendChild(section(T.history, historyContent));

    if (window.portalTables) Array.prototype.forEach.call(panelBody.querySelectorAll("table"), window.portalTables.label);
    panel.hidden = false;
    if (highlight) map.removeLayer(highlight);
    highlight = L.geoJSON(p.geometry, {interactive: false,
      style: {color: "#0b5cad", weight: 4, fill: true, fillOpacity: 0.08}}).addTo(map);
    P.selection = highlight;
    panel.setAttribute("data-parcel-code", p.parcel_code);
    var url = new URL(window.location.href);
    url.searchParams.set("parcel", p.parcel_code);
    url.searchParams.delete("q");
    window.history.replaceState(null, "", url.pathname + url.search);
    keepLanguageSwitchHere();
  }
  function keepLanguageSwitchHere() {
    // The switch returns to the page it came from: keep the open parcel in that address.
    var link = document.querySelector("a.lang");
    if (!link) return;
    var target = new URL(link.href, window.location.href);
    var here = window.location.pathname + window.location.search;
    // Longer than the server takes back (NEXT_MAX_CHARS, data-next-max): nowhere to return to.
    if (here.length > Number(link.getAttribute("data-next-max"))) target.searchParams.delete("next");
    else target.searchParams.set("next", here);
    link.href = target.pathname + target.search;
  }
  function closePanel() {
    panel.hidden = true;
    panel.removeAttribute("data-parcel-code");
    if (highlight) { map.removeLayer(highlight); highlight = null; }
    P.selection = null;
    if (lastFocus) lastFocus.focus();
  }
  function notFound(message) {
    panelTitle.textContent = T.no_parcel;
    panelBody.textContent = "";
    panelBody.appendChild(el("p", {text: message}));
    panel.hidden = false;
    panel.removeAttribute("data-parcel-code");
    if (highlight) { map.removeLayer(highlight); highlight = null; }
  }
  /* ---- the selection stays in sight: the panel covers the map's right side (desktop) or its
     lower half (phones), so the map is panned or fitted within the part left uncovered ---- */
  function uncovered() {
    // The map's visible part, in container pixels: [width, height] left of or above the panel.
    var size = map.getSize();
    if (panel.hidden) return [size.x, size.y];
    var m = map.getContainer().getBoundingClientRect(), r = panel.getBoundingClientRect();
    if (r.top > m.top + 10) return [size.x, Math.max(80, r.top - m.top)];   // a bottom sheet
    if (r.left > m.left + 10) return [Math.max(80, r.left - m.left), size.y]; // a side panel
    return [size.x, size.y];
  }
  function fitWithinUncovered(bounds, animate) {
    var size = map.getSize(), open = uncovered();
    map.flyToBounds(bounds, {maxZoom: 18, duration: animate ? 0.8 : 0, animate: !!animate,
      paddingTopLeft: [12, 12], paddingBottomRight: [size.x - open[0] + 12, size.y - open[1] + 12]});
  }
  function keepInSight(latlng) {
    var open = uncovered(), at = map.latLngToContainerPoint(latlng), margin = 24;
    if (at.x > margin && at.x < open[0] - margin && at.y > margin && at.y < open[1] - margin) return;
    map.panBy(at.subtract(L.point(open[0] / 2, open[1] / 2)), {animate: true, duration: 0.4});
  }
  function showParcelAt(latlng) {
    lastFocus = document.activeElement;
    getJSON("/api/parcels/at?lon=" + latlng.lng.toFixed(8) + "&lat=" + latlng.lat.toFixed(8)).then(function (p) {
      if (p) { renderParcel(p); keepInSight(latlng); } else notFound(T.no_parcel_here);
    }).catch(function (e) { notFound(T.error + " " + e.message); });
  }
  function showParcel(code, fly) {
    return getJSON("/api/parcels/" + encodeURIComponent(code)).then(function (p) {
      if (!p) { notFound(T.no_parcel); return; }
      renderParcel(p);
      if (fly) fitWithinUncovered([[p.bbox[1], p.bbox[0]], [p.bbox[3], p.bbox[2]]], true);
      panel.focus({preventScroll: true});
    });
  }
  L.control.scale({imperial: false, maxWidth: 160}).addTo(map);
  // The toolbar above the map grows when the search says something (a phone wraps it): the map
  // must then learn its new size, or taps and fitted views are off by the difference.
  if (window.ResizeObserver) new ResizeObserver(function () { map.invalidateSize({pan: false}); }).observe(map.getContainer());
  map.on("click", function (e) { if (!P.measuring) showParcelAt(e.latlng); });  // measure.js draws then
  map.getContainer().addEventListener("keydown", function (e) {
    if (e.key === "Enter" && e.target === map.getContainer() && !P.measuring) showParcelAt(map.getCenter());
  });
  map.getContainer().setAttribute("aria-label", T.map_label);
  // Leaflet's own controls speak English: name them in the page's language.
  [[".leaflet-control-zoom-in", T.zoom_in], [".leaflet-control-zoom-out", T.zoom_out],
   [".leaflet-control-layers-toggle", T.layers]].forEach(function (pair) {
    Array.prototype.forEach.call(map.getContainer().querySelectorAll(pair[0]), function (node) {
      node.setAttribute("aria-label", pair[1]);
      if (node.tagName === "A") node.setAttribute("title", pair[1]);
    });
  });
  document.getElementById("parcel-panel-close").addEventListener("click", closePanel);
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !panel.hidden && e.target.id !== "search-input") closePanel();
  });

  /* ---- search with suggestions (ARIA combobox) ---- */
  var input = document.getElementById("search-input");
  var list = document.getElementById("search-results");
  var status = document.getElementById("search-status");
  var hits = [], active = -1, timer = null, pending = null;

  function hitLabel(h) {
    if (h.kind === "parcel") return h.parcel_code;
    return h.unit_number + " · " + h.location;
  }
  function setActive(i) {
    active = i;
    Array.prototype.forEach.call(list.children, function (li, j) { li.setAttribute("aria-selected", j === i ? "true" : "false"); });
    if (i >= 0) input.setAttribute("aria-activedescendant", "search-hit-" + i);
    else input.removeAttribute("aria-activedescendant");
    tellWhatEnterOpens();
  }
  function tellWhatEnterOpens() {
    // Enter opens the highlighted suggestion, else the first: say which, before it happens.
    if (list.hidden && hits.length) return;  // suggestions closed: the last word stays
    var target = hits[active >= 0 ? active : 0];
    Array.prototype.forEach.call(list.children, function (li, j) { li.classList.toggle("enter-target", hits[j] === target); });
    status.textContent = hits.length ? T.results_count.replace("{n}", hits.length) + " · " +
      T.enter_opens.replace("{label}", hitLabel(target)) : T.no_results;
  }
  function closeList() { list.hidden = true; input.setAttribute("aria-expanded", "false"); setActive(-1); }
  function renderHits(result) {
    hits = result.results;
    list.textContent = "";
    hits.forEach(function (h, i) {
      var li = el("li", {id: "search-hit-" + i, role: "option", "aria-selected": "false"}, [
        el("span", {className: "kind", text: T["kind_" + h.kind]}), el("span", {text: hitLabel(h)})]);
      li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(i); });
      list.appendChild(li);
    });
    list.hidden = hits.length === 0;
    input.setAttribute("aria-expanded", hits.length ? "true" : "false");
    setActive(-1);
  }
  function runSearch(text) {
    if (pending) pending.abort();
    pending = new AbortController();
    // The view goes along: a label's short number (as the map shows it) finds the parcel in view first.
    var b = map.getBounds(), view = [Math.max(b.getWest(), -180), Math.max(b.getSouth(), -90),
                                     Math.min(b.getEast(), 180), Math.min(b.getNorth(), 90)];
    return fetch("/api/search?q=" + encodeURIComponent(text) + "&view=" +
                 view.map(function (v) { return v.toFixed(6); }).join(","), {signal: pending.signal}).then(function (r) {
      if (r.status === 422) return r.json().then(function (body) { status.textContent = T.keep_typing; hits = []; closeList(); return null; });
      if (!r.ok) throw new Error(r.status);
      return r.json().then(function (body) { renderHits(body); return body; });
    }).catch(function (e) { if (e.name !== "AbortError") status.textContent = T.error + " " + e.message; return null; });
  }
  function choose(i) {
    var h = hits[i];
    if (!h) return;
    closeList();
    status.textContent = "";
    input.value = hitLabel(h);
    lastFocus = input;
    showParcel(h.parcel_code, false).then(function () {  // fitted once the panel is open: above it
      fitWithinUncovered([[h.bbox[1], h.bbox[0]], [h.bbox[3], h.bbox[2]]], true);
    });
  }
  input.addEventListener("input", function () {
    clearTimeout(timer);
    var text = input.value.trim();
    if (text.length < 2) { closeList(); status.textContent = ""; return; }
    timer = setTimeout(function () { runSearch(text); }, 180);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown" && hits.length) { e.preventDefault(); list.hidden = false; input.setAttribute("aria-expanded", "true"); setActive((active + 1) % hits.length); }
    else if (e.key === "ArrowUp" && hits.length) { e.preventDefault(); setActive(active <= 0 ? hits.length - 1 : active - 1); }
    else if (e.key === "Escape") { closeList(); }
  });
  input.addEventListener("blur", function () { setTimeout(closeList, 150); });
  input.form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (active >= 0) { choose(active); return; }
    var text = input.value.trim();
    if (!text) return;
    clearTimeout(timer);
    runSearch(text).then(function (body) { if (body && body.results.length) choose(0); });
  });

  /* ---- parcel-code labels at high zoom ---- */
  var labels = L.layerGroup();
  var labelRequest = null;
  P.control.addOverlay(labels, T.labels);
  labels.addTo(map);
  function refreshLabels() {
    var hint = document.getElementById("zoom-hint");
    if (hint) hint.hidden = map.getZoom() >= P.parcelsMinZoom;
    if (labelRequest) labelRequest.abort();
    if (map.getZoom() < P.labelsMinZoom || !map.hasLayer(labels)) { labels.clearLayers(); return; }
    var b = map.getBounds();
    labelRequest = new AbortController();
    getJSON("/api/parcels/labels?bbox=" + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(","),
            labelRequest.signal).then(function (rows) {
      labels.clearLayers();
      var full = map.getZoom() >= 20;  // the whole code fits from zoom 20; below, the sequence number
      (rows || []).forEach(function (r) {
        var node = L.marker([r.lat, r.lon], {interactive: false, keyboard: false,
          icon: L.divIcon({className: "parcel-label", html: "<span></span>", iconSize: null})}).addTo(labels).getElement();
        node.firstChild.textContent = full ? r.parcel_code : r.parcel_code.slice(-5);
        node.setAttribute("data-parcel-code", r.parcel_code);
      });
      hideOverlappingLabels();
      map.getContainer().setAttribute("data-labels", String(labels.getLayers().length));
    }).catch(function () {});
  }
  function hideOverlappingLabels() {
    // Narrow parcels put labels on top of each other: keep the first, hide the ones it covers.
    var kept = [];
    labels.eachLayer(function (marker) {
      var span = marker.getElement().firstChild, box = span.getBoundingClientRect();
      var clash = kept.some(function (k) {
        return box.left < k.right + 2 && box.right + 2 > k.left && box.top < k.bottom && box.bottom > k.top;
      });
      span.style.visibility = clash ? "hidden" : "";
      if (!clash) kept.push(box);
    });
  }
  map.on("moveend", refreshLabels);
  map.on("overlayadd overlayremove", refreshLabels);

  /* ---- tile bookkeeping (lets people and tests see that parcels were drawn) ---- */
  var loaded = 0;
  P.parcels.on("tileload", function () { loaded += 1; map.getContainer().setAttribute("data-parcel-tiles", String(loaded)); });

  /* ---- the pointer's coordinates: CGCS2000 lon/lat and its 3° Gauss-Krüger zone (GB/T 17798
     zoning, zone = round(lon / 3), central meridian 3 × zone, false easting zone × 10^6 + 500 km
     on the GRS 80 ellipsoid, the same as CGCS2000's; proj4 does the projection) ---- */
  function gaussKruger(lon, lat, zone) {  // `zone`: a given zone (measuring keeps one plane), else the point's
    zone = zone || Math.round(lon / 3);
    var def = "+proj=tmerc +lat_0=0 +lon_0=" + (3 * zone) + " +k=1 +x_0=" + (zone * 1000000 + 500000) +
              " +y_0=0 +ellps=GRS80 +units=m +no_defs";
    var en = window.proj4("+proj=longlat +ellps=GRS80 +no_defs", def, [lon, lat]);
    return {zone: zone, x: en[1], y: en[0]};  // surveyors' axes: X northing, Y easting
  }
  P.gaussKruger = gaussKruger;
  if (window.proj4) {
    var Pointer = L.Control.extend({options: {position: "bottomright"}, onAdd: function () {
      var box = L.DomUtil.create("div", "pointer-coordinates");
      box.setAttribute("aria-live", "off");
      box.textContent = T.pointer_hint;
      return box;
    }});
    var pointer = new Pointer().addTo(map);
    map.on("mousemove", function (e) {
      var lon = e.latlng.lng, lat = e.latlng.lat, gk = gaussKruger(lon, lat);
      pointer.getContainer().textContent = "CGCS2000 " + lon.toFixed(6) + "°E " + lat.toFixed(6) + "°N · " +
        T.gk_zone.replace("{zone}", gk.zone) + " X " + gk.x.toFixed(2) + " Y " + gk.y.toFixed(2);
    });
  }

  /* ---- start: the whole district within reach, the legend folded on phones ---- */
  var narrow = window.matchMedia("(max-width: 640px)").matches;
  if (narrow) { var legend = document.querySelector(".map-legend"); if (legend) legend.open = false; }
  if (P.district) {
    var districtBounds = L.latLngBounds([P.district[1], P.district[0]], [P.district[3], P.district[2]]);
    var whole = map.getBoundsZoom(districtBounds, false);
    if (map.getMinZoom() > whole) map.setMinZoom(whole);  // zoomed out fully, the district fits
  }
  function showDistrictOnPhones() {
    // Phones open on the whole district (the desktop's opening view would crop it).
    if (narrow && districtBounds && !P.initial.parcel && !P.initial.q && !map.getBounds().pad(0.01).contains(districtBounds)) {
      map.fitBounds(districtBounds, {animate: false});
    }
  }

  /* ---- start: a parcel or a search from the address bar ---- */
  refreshLabels();
  if (P.initial.parcel) showParcel(P.initial.parcel, true);
  else if (P.initial.q) { input.value = P.initial.q; runSearch(P.initial.q).then(function (body) { if (body && body.results.length) choose(0); }); }
  // Ready once the opening view has settled: the district's extent is fitted with a zoom
  // animation, and a view set while it runs would be overridden when it ends.
  function ready() {
    showDistrictOnPhones();
    document.documentElement.setAttribute("data-map-ready", "true");
    if (window.performance && performance.mark) performance.mark("map-ready");
  }
  if (map._animatingZoom) map.once("zoomend", ready); else ready();
})();
