// PlantGuard trend chart: one point's series from /api/v1/points/{id}/series?agg=auto.
// Zooming (wheel, pinch, drag or the slider) asks the store again for the span shown, so the
// resolution follows the zoom: hours of 1-hour rollups become raw readings as you zoom in.
(function () {
  "use strict";

  var el = document.getElementById("trend");
  if (!el || typeof window.echarts === "undefined") return;
  var cfg = JSON.parse(el.dataset.config);
  var L = cfg.labels;
  var statusEl = document.getElementById("trend-status");
  var csvLink = document.getElementById("trend-csv");
  var chart = window.echarts.init(el, null, { renderer: "canvas" });
  var MIN_SPAN = 60 * 1000;
  var state = { from: 0, to: 0, seq: 0, timer: null, drawing: false };

  function fmt(template, params) {
    return template.replace(/%\((\w+)\)s/g, function (_, k) { return params[k] === undefined ? "" : params[k]; });
  }

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", !!isError);
  }

  function query(from, to) {
    return "from=" + encodeURIComponent(new Date(from).toISOString()) +
      "&to=" + encodeURIComponent(new Date(to).toISOString()) + "&agg=auto";
  }

  // A break in the line wherever consecutive points lie further apart than `gap` ms.
  function withGaps(rows, gap) {
    var out = [];
    for (var i = 0; i < rows.length; i++) {
      if (i > 0 && rows[i][0] - rows[i - 1][0] > gap) out.push([rows[i - 1][0] + 1, null]);
      out.push(rows[i]);
    }
    return out;
  }

  function medianStep(times) {
    if (times.length < 2) return 0;
    var d = [];
    for (var i = 1; i < times.length; i++) d.push(times[i] - times[i - 1]);
    d.sort(function (a, b) { return a - b; });
    return d[Math.floor(d.length / 2)];
  }

  // Invisible points at the thresholds (or, without data, the range) so that the value axis,
  // which ECharts still rounds to nice steps, always shows how far the data is from a limit.
  function limitsSeries(hasData) {
    var values = cfg.thresholds.map(function (t) { return t.value; });
    if (!hasData) values = values.concat(cfg.range.filter(function (v) { return v !== null; }));
    return { id: "limits", type: "scatter", symbolSize: 0, silent: true, tooltip: { show: false },
             data: values.map(function (v) { return [state.from, v]; }) };
  }

  function markLines() {
    return {
      symbol: "none", silent: true,
      data: cfg.thresholds.map(function (t) {
        var colour = t.level === "alarm" ? "#c0392b" : "#e67e22";
        return { yAxis: t.value, name: t.label, lineStyle: { color: colour, type: "dashed", width: 1.5 },
                 label: { formatter: t.label + " " + t.value, position: "insideEndTop", color: colour } };
      }),
    };
  }

  function tooltip(body) {
    return {
      trigger: "axis",
      formatter: function (params) {
        var main = params.filter(function (p) { return p.seriesId === "main" && p.data && p.data[1] !== null; })[0];
        if (!main) return "";
        var d = main.data;
        var lines = [new Date(d[0]).toLocaleString()];
        if (body.agg === "raw") {
          lines.push(L.value + ": " + d[1] + " " + cfg.unit);
          lines.push(L.quality + ": " + (d[2] === 1 ? L.uncertain : L.good));
        } else {
          lines.push(L.avg + ": " + Number(d[1].toPrecision(6)) + " " + cfg.unit);
          lines.push(L.min + " / " + L.max + ": " + Number(d[2].toPrecision(6)) + " / " + Number(d[3].toPrecision(6)));
          lines.push(L.count + ": " + d[4]);
        }
        return lines.join("<br>");
      },
    };
  }

  function draw(body) {
    var times = body.t.map(function (t) { return Date.parse(t); });
    var series = [];
    var status;
    if (body.agg === "raw") {
      var rows = [], uncertain = [], bad = 0, nUncertain = 0;
      for (var i = 0; i < times.length; i++) {
        var q = body.quality[i], v = body.value[i];
        if (q === 2 || v === null) { bad++; rows.push([times[i], null]); continue; }
        if (q === 1) { nUncertain++; uncertain.push([times[i], v]); }
        rows.push([times[i], v, q]);
      }
      var step = medianStep(times);
      series.push({ id: "main", name: L.value, type: "line", showSymbol: times.length < 200, symbolSize: 4,
                    connectNulls: false, sampling: "lttb", data: step ? withGaps(rows, step * 3) : rows,
                    lineStyle: { width: 1.5, color: "#0b5cad" }, itemStyle: { color: "#0b5cad" }, markLine: markLines() });
      series.push({ id: "uncertain", name: L.uncertain, type: "scatter", symbol: "diamond", symbolSize: 7,
                    itemStyle: { color: "#d4ac0d" }, data: uncertain });
      status = fmt(L.statusRaw, { agg: L.agg.raw, n: times.length, uncertain: nUncertain, bad: bad });
    } else {
      var gap = body.resolution_s * 1000 * 1.5;
      var avg = [], lo = [], band = [];
      for (var j = 0; j < times.length; j++) {
        avg.push([times[j], body.avg[j], body.min[j], body.max[j], body.count[j]]);
        lo.push([times[j], body.min[j]]);
        band.push([times[j], body.max[j] - body.min[j]]);
      }
      series.push({ id: "lo", name: L.band, type: "line", stack: "band", stackStrategy: "all", symbol: "none", connectNulls: false,
                    lineStyle: { opacity: 0 }, data: withGaps(lo, gap), tooltip: { show: false } });
      series.push({ id: "band", name: L.band, type: "line", stack: "band", stackStrategy: "all", symbol: "none", connectNulls: false,
                    lineStyle: { opacity: 0 }, areaStyle: { color: "rgba(11, 92, 173, 0.18)" },
                    data: withGaps(band, gap), tooltip: { show: false } });
      series.push({ id: "main", name: L.avg, type: "line", symbol: "none", connectNulls: false,
                    lineStyle: { width: 1.5, color: "#0b5cad" }, itemStyle: { color: "#0b5cad" },
                    data: withGaps(avg, gap), markLine: markLines() });
      status = fmt(L.statusRollup, { agg: L.agg[body.agg], n: times.length });
    }
    series.push(limitsSeries(times.length > 0));
    if (!times.length) status = L.noData;
    state.drawing = true;
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 16, top: 24, bottom: 64, containLabel: true },
      tooltip: tooltip(body),
      legend: { show: false },
      xAxis: { type: "time", min: state.from, max: state.to },
      yAxis: { type: "value", scale: true, name: cfg.unit },
      dataZoom: [{ type: "inside", xAxisIndex: 0, filterMode: "none", start: 0, end: 100 },
                 { type: "slider", xAxisIndex: 0, filterMode: "none", start: 0, end: 100, height: 22, bottom: 8 }],
      graphic: times.length ? [] : [{ type: "text", left: "center", top: "middle",
                                      style: { text: L.noData, fill: "#5f6b7a", fontSize: 14 } }],
      series: series,
    }, { notMerge: true });
    state.drawing = false;
    el.dataset.agg = body.agg;
    el.dataset.size = String(body.size);
    el.setAttribute("aria-busy", "false");
    setStatus(status, false);
  }

  function load(from, to) {
    to = Math.min(to, Date.now() + 60 * 1000);
    if (to - from < MIN_SPAN) { var mid = (from + to) / 2; from = mid - MIN_SPAN / 2; to = mid + MIN_SPAN / 2; }
    if (to - from > cfg.maxRange * 1000) from = to - cfg.maxRange * 1000;
    state.from = Math.round(from);
    state.to = Math.round(to);
    var seq = ++state.seq;
    var q = query(state.from, state.to);
    if (csvLink) csvLink.href = cfg.url + ".csv?" + q;
    el.setAttribute("aria-busy", "true");
    setStatus(L.loading, false);
    fetch(cfg.url + "?" + q, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) { return res.json().then(function (body) { return { ok: res.ok, body: body }; }); })
      .then(function (r) {
        if (seq !== state.seq) return; // a newer request is on its way
        if (!r.ok) {
          var errs = (r.body && r.body.errors) || [];
          setStatus(errs.length ? errs.map(function (e) { return e.message; }).join("; ") : (r.body.detail || L.failed), true);
          el.setAttribute("aria-busy", "false");
          return;
        }
        draw(r.body);
      })
      .catch(function () { if (seq === state.seq) { setStatus(L.failed, true); el.setAttribute("aria-busy", "false"); } });
  }

  function press(button) {
    document.querySelectorAll(".trend-toolbar [data-range]").forEach(function (b) {
      b.setAttribute("aria-pressed", b === button ? "true" : "false");
    });
  }

  document.querySelectorAll(".trend-toolbar [data-range]").forEach(function (b) {
    b.addEventListener("click", function () {
      press(b);
      var now = Date.now();
      load(now - Number(b.dataset.range) * 1000, now);
    });
  });
  var zoomOut = document.querySelector(".trend-toolbar [data-zoom-out]");
  if (zoomOut) zoomOut.addEventListener("click", function () {
    press(null);
    var span = state.to - state.from;
    load(state.from - span / 2, state.to + span / 2);
  });

  // Zoom: once the user stops for a moment, fetch the span shown at the resolution it deserves.
  chart.on("datazoom", function () {
    if (state.drawing) return;
    clearTimeout(state.timer);
    state.timer = setTimeout(function () {
      var dz = chart.getOption().dataZoom[0];
      var span = state.to - state.from;
      var from = state.from + span * dz.start / 100, to = state.from + span * dz.end / 100;
      if (dz.start <= 0.01 && dz.end >= 99.99) return;
      press(null);
      load(from, to);
    }, 400);
  });
  window.addEventListener("resize", function () { chart.resize(); });

  var now = Date.now();
  load(now - cfg.defaultRange * 1000, now);
})();
