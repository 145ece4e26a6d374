// Surveyors' and registrars' pages: upload through the API, act on a submission, and draw the
// preview (uploaded parcels over the current cadastre, faults highlighted) as an SVG map that
// needs no library and no network. Table rows and map shapes highlight each other.
(function () {
  "use strict";
  const headers = window.portalApi.headers, message = window.portalApi.message;  // static/js/api.js

  // Upload form with drag and drop.
  const form = document.getElementById("upload-form");
  if (form) {
    const zone = document.getElementById("drop-zone");
    const input = document.getElementById("file");
    const status = document.getElementById("upload-status");
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault(); zone.classList.remove("over");
      if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; status.textContent = input.files[0].name; }
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!input.files.length) { status.textContent = document.getElementById("formats").textContent; input.focus(); return; }
      status.textContent = "…";
      const response = await fetch("/api/submissions", { method: "POST", body: new FormData(form), headers: headers(), credentials: "same-origin" });
      const body = await response.json().catch(() => ({}));
      if (response.status === 201) { window.location.href = "/surveys/" + body.id; return; }
      status.textContent = message(body) || response.statusText;
      status.className = "error";
      if ((body.detail && body.detail.code === "unusable_crs") || /crs|coordinate reference|坐标系/i.test(status.textContent)) {
        document.getElementById("crs-field").classList.add("needed");
        document.getElementById("crs").focus();
      }
    });
  }

  // Workflow buttons.
  const actions = document.querySelector(".actions[data-submission]");
  if (actions) {
    const id = actions.dataset.submission;
    const status = document.getElementById("action-status");
    actions.addEventListener("click", async (e) => {
      if (e.target.closest("[data-close-dialog]")) { e.target.closest("dialog").close(); return; }
      const button = e.target.closest("button[data-action]");
      if (!button) return;
      const action = button.dataset.action;
      // Approval publishes: first show what (the dialog lists the parcels and what retires).
      const confirm = document.getElementById("approve-confirm");
      if (action === "approve" && confirm && !button.dataset.confirmed) { confirm.showModal(); return; }
      if (confirm && confirm.open) confirm.close();
      const init = { method: "POST", headers: headers(), credentials: "same-origin" };
      if (action === "reject") {
        const reasons = document.getElementById("reasons").value.split("\n").map((r) => r.trim()).filter(Boolean);
        init.headers = headers({ "Content-Type": "application/json" });
        init.body = JSON.stringify({ reasons: reasons });
      }
      button.disabled = true;
      status.textContent = "…";
      const response = await fetch("/api/submissions/" + id + "/" + action, init);
      const body = await response.json().catch(() => ({}));
      if (response.ok) { window.location.reload(); return; }
      button.disabled = false;
      status.className = "error";
      status.textContent = message(body) || response.statusText;
    });
  }

  // SVG preview map.
  const box = document.getElementById("preview");
  if (!box) return;
  const SVG = "http://www.w3.org/2000/svg";
  fetch(box.dataset.src, { headers: headers(), credentials: "same-origin" })
    .then((r) => r.json())
    .then((collection) => draw(collection.features || []));

  function rings(geometry) {
    if (!geometry) return [];
    const c = geometry.coordinates;
    switch (geometry.type) {
      case "Polygon": return c;
      case "MultiPolygon": return c.flat();
      case "LineString": return [c];
      case "MultiLineString": return c;
      case "Point": return [[c]];
      case "MultiPoint": return [c];
      case "GeometryCollection": return geometry.geometries.flatMap(rings);
      default: return [];
    }
  }

  function draw(features) {
    const order = { cadastre: 0, retired: 1, upload: 2, issue: 3 };
    features.sort((a, b) => order[a.properties.layer] - order[b.properties.layer]);
    const focus = features.filter((f) => f.properties.layer !== "cadastre");
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    (focus.length ? focus : features).forEach((f) => rings(f.geometry).flat().forEach(([x, y]) => {
      minX = Math.min(minX, x); maxX = Math.max(maxX, x); minY = Math.min(minY, y); maxY = Math.max(maxY, y);
    }));
    if (!isFinite(minX)) { box.textContent = "—"; return; }
    // Local metres from the top-left corner: SVG works in single precision, so raw degrees
    // (120.15...) would lose the centimetres that separate neighbouring parcels.
    const k = Math.cos(((minY + maxY) / 2) * Math.PI / 180) * 111320, m = 111320;
    const X = (x) => ((x - minX) * k).toFixed(3), Y = (y) => ((maxY - y) * m).toFixed(3);
    const pad = Math.max((maxX - minX) * k, (maxY - minY) * m, 1) * 0.4;
    const x0 = -pad, y0 = -pad, w = (maxX - minX) * k + 2 * pad, h = (maxY - minY) * m + 2 * pad;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", [x0, y0, w, h].join(" "));
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    features.forEach((f) => {
      const p = f.properties;
      const d = rings(f.geometry).map((ring) => "M" + ring.map(([x, y]) => X(x) + "," + Y(y)).join("L") +
        (f.geometry.type.indexOf("Polygon") >= 0 ? "Z" : "")).join("");
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", d);
      path.setAttribute("class", "f " + p.layer + (p.severity ? " " + p.severity : ""));
      if (f.geometry.type.indexOf("Point") >= 0) { path.style.strokeWidth = "12px"; path.setAttribute("stroke-linecap", "round"); }
      if (p.parcel_index !== null && p.parcel_index !== undefined) path.dataset.parcel = p.parcel_index;
      const title = document.createElementNS(SVG, "title");
      title.textContent = [p.parcel_code, p.localized_message || p.message].filter(Boolean).join(": ") || p.layer;
      path.appendChild(title);
      svg.appendChild(path);
    });
    box.appendChild(svg);
    function highlight(index) {
      document.querySelectorAll(".hl").forEach((el) => el.classList.remove("hl"));
      if (index === undefined) return;
      document.querySelectorAll('[data-parcel="' + index + '"]').forEach((el) => el.classList.add("hl"));
    }
    svg.addEventListener("click", (e) => {
      const index = e.target.dataset && e.target.dataset.parcel;
      highlight(index);
      const row = document.querySelector('table [data-parcel="' + index + '"]');
      if (row) row.scrollIntoView({ block: "nearest" });
    });
    document.querySelectorAll("table [data-parcel]").forEach((row) => {
      const go = () => highlight(row.dataset.parcel);
      row.addEventListener("click", go);
      row.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
    });
  }
})();
