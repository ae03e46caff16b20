// PlantGuard console behaviour: charts, delete confirmations, service worker. No inline code needed.
(function () {
  "use strict";

  function drawCharts(root) {
    if (typeof window.echarts === "undefined") return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      el.dataset.drawn = "1";
      var chart = window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption(JSON.parse(el.dataset.chart));
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) ev.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSettle", function (ev) { drawCharts(ev.target); });

  // The offline page (served by the service worker in place of the page asked for) loads the
  // page again once the server answers: when the device comes back online, and every few
  // seconds meanwhile (on a plant network the device is often online while the server is not).
  if (document.querySelector("[data-offline]")) {
    var probing = false;
    var retry = function () {
      if (probing || navigator.onLine === false) return;
      probing = true; // one probe at a time; none left running when the page reloads
      fetch("/healthz", { cache: "no-store" })
        .then(function (res) { return res.text().then(function () { return res.ok; }); })
        .then(function (ok) { if (ok) { window.location.reload(); } else { probing = false; } })
        .catch(function () { probing = false; /* still unreachable */ });
    };
    window.addEventListener("online", retry);
    window.setInterval(retry, 5000);
  }

  // Signed-in pages kept for offline use must not outlive the session that fetched them.
  if (window.caches && window.location.pathname === "/login") { window.caches.delete("plantguard-pages"); }

  if ("serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () { /* optional */ });
    });
  }
})();
