// Four-colour risk map: clicking an area opens its risk points; with risk.manage, the editor
// draws an area's outline by clicking on the plan (corners in plan coordinates, via the SVG's
// own transform) and saves it through PUT /api/v1/risk-map/areas/{id}/polygon. Plain DOM, no
// library. The server validates again; its field-named errors are shown as they come.
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";

  function setupPanel(svg) {
    var list = document.getElementById("riskmap-area-list");
    function show(id) {
      document.querySelectorAll(".riskmap-area-panel").forEach(function (p) {
        p.hidden = p.getAttribute("data-area-id") !== String(id);
      });
      document.querySelectorAll(".riskmap-area").forEach(function (g) {
        g.classList.toggle("selected", g.getAttribute("data-area-id") === String(id));
      });
      if (list) list.hidden = id !== null;
      var head = list && list.previousElementSibling;
      if (head) head.hidden = id !== null;
    }
    svg.querySelectorAll(".riskmap-area").forEach(function (g) {
      g.addEventListener("click", function () { show(g.getAttribute("data-area-id")); });
      g.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); show(g.getAttribute("data-area-id")); }
      });
    });
    document.querySelectorAll("[data-open-area]").forEach(function (b) {
      b.addEventListener("click", function () { show(b.getAttribute("data-open-area")); });
    });
    document.querySelectorAll("[data-close-area]").forEach(function (b) {
      b.addEventListener("click", function () { show(null); });
    });
  }

  function setupEditor(svg) {
    var box = document.querySelector(".riskmap-draw");
    if (!box) return;
    var select = document.getElementById("rm-area");
    var start = document.getElementById("rm-start");
    var undo = document.getElementById("rm-undo");
    var clear = document.getElementById("rm-clear");
    var save = document.getElementById("rm-save");
    var error = document.getElementById("rm-error");
    var draft = document.getElementById("riskmap-draft");
    var handles = document.getElementById("riskmap-handles");
    var width = parseFloat(svg.getAttribute("data-width")), height = parseFloat(svg.getAttribute("data-height"));
    var points = [], editing = false;

    function redraw() {
      draft.setAttribute("points", points.map(function (p) { return p[0] + "," + p[1]; }).join(" "));
      draft.hidden = !editing;
      while (handles.firstChild) handles.removeChild(handles.firstChild);
      var r = Math.max(width, height) / 150;
      points.forEach(function (p) {
        var c = document.createElementNS(SVGNS, "circle");
        c.setAttribute("cx", p[0]); c.setAttribute("cy", p[1]); c.setAttribute("r", r);
        c.setAttribute("class", "riskmap-handle");
        handles.appendChild(c);
      });
      undo.disabled = !editing || points.length === 0;
      clear.disabled = !editing || points.length === 0;
      save.disabled = !editing || points.length < 3;
    }
    function round(v) { return Math.round(v * 100) / 100; }
    function begin() {
      editing = true; error.hidden = true;
      var opt = select.options[select.selectedIndex];
      try { points = JSON.parse(opt.getAttribute("data-polygon") || "[]"); } catch (e) { points = []; }
      svg.classList.add("editing");
      redraw();
    }
    start.addEventListener("click", begin);
    select.addEventListener("change", function () { if (editing) begin(); });
    svg.addEventListener("click", function (e) {
      if (!editing) return;
      var ctm = svg.getScreenCTM();
      if (!ctm) return;
      var pt = svg.createSVGPoint();
      pt.x = e.clientX; pt.y = e.clientY;
      var p = pt.matrixTransform(ctm.inverse());
      points.push([round(Math.min(Math.max(p.x, 0), width)), round(Math.min(Math.max(p.y, 0), height))]);
      redraw();
    });
    undo.addEventListener("click", function () { points.pop(); redraw(); });
    clear.addEventListener("click", function () { points = []; redraw(); });
    save.addEventListener("click", function () {
      save.disabled = true; error.hidden = true;
      fetch("/api/v1/risk-map/areas/" + encodeURIComponent(select.value) + "/polygon", {
        method: "PUT", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": box.getAttribute("data-csrf") },
        body: JSON.stringify({ polygon: points })
      }).then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; });
      }).then(function (res) {
        if (res.ok) { window.location.reload(); return; }
        var b = res.body || {};
        var msg = (b.errors || []).map(function (e) { return (e.label ? e.label + ": " : "") + e.message; }).join("; ");
        error.textContent = msg || b.detail || String(b);
        error.hidden = false; save.disabled = points.length < 3;
      }).catch(function () {
        error.textContent = box.getAttribute("data-offline") || "offline";
        error.hidden = false; save.disabled = points.length < 3;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var svg = document.getElementById("riskmap");
    if (!svg) return;
    setupPanel(svg);
    setupEditor(svg);
  });
})();
