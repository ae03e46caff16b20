// The backtest chart of a detection rule: each point's readings, and the spans in which the
// rule would have alarmed (computed on the server by the live engine).
(function () {
  "use strict";
  function draw() {
    var el = document.getElementById("backtest-chart");
    if (!el || !window.echarts) return;
    var cfg = JSON.parse(el.getAttribute("data-config"));
    var chart = window.echarts.init(el);
    var series = cfg.series.map(function (s, i) {
      var out = {
        name: s.code + (s.unit ? " (" + s.unit + ")" : ""), type: "line", showSymbol: false,
        data: s.ts.map(function (t, j) { return [t, s.value[j]]; })
      };
      if (i === 0 && cfg.alarms.length) {
        out.markArea = {
          itemStyle: { color: "rgba(220, 38, 38, 0.18)" },
          data: cfg.alarms.map(function (a) { return [{ xAxis: a[0], name: cfg.labels.alarm }, { xAxis: a[1] }]; })
        };
      }
      return out;
    });
    chart.setOption({
      tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: { left: 50, right: 20, top: 30, bottom: 60 },
      xAxis: { type: "time" }, yAxis: { type: "value", scale: true },
      dataZoom: [{ type: "inside" }, { type: "slider" }], series: series
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw); else draw();
})();
