/* Tables read as lists on a phone: each cell is labelled with its column's heading
   (data-label, shown by portal.css under 640 px), so a row becomes a small card of
   "heading: value" lines instead of a table wider than the screen. */
(function () {
  "use strict";
  function label(table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) { return th.textContent.trim(); });
    if (!heads.length) return;
    table.classList.add("stacks");
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (tr) {
      Array.prototype.forEach.call(tr.children, function (cell, i) {
        if (heads[i] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", heads[i]);
      });
    });
  }
  function all() { Array.prototype.forEach.call(document.querySelectorAll("main table"), label); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", all); else all();
  window.portalTables = {label: label};  // for tables a script fills in later
})();
