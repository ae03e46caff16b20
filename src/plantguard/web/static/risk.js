// Risk register: the live score and level preview of the assessment form. The server
// computes the same (risk/methods.py) when the form is sent; this only shows it early.
(function () {
  "use strict";
  var form = document.getElementById("risk-assess");
  var dataEl = document.getElementById("risk-method-data");
  if (!form || !dataEl) return;
  var data = JSON.parse(dataEl.textContent || "{}");
  var out = document.getElementById("risk-preview-score");
  var lvl = document.getElementById("risk-preview-level");
  var labels = JSON.parse(lvl.getAttribute("data-labels") || "{}");

  function method() {
    var checked = form.querySelector("input[name=method]:checked");
    return checked ? checked.value : "lec";
  }

  function levelFor(spec, score) {
    var levels = spec.levels || [];
    for (var i = 0; i < levels.length; i++) {
      if (score >= Number(levels[i].min) - 1e-9) return levels[i].level;
    }
    return "low";
  }

  function update() {
    var m = method();
    form.querySelectorAll("[data-method]").forEach(function (el) {
      el.hidden = el.getAttribute("data-method") !== m;
      el.querySelectorAll("select").forEach(function (s) { s.disabled = el.hidden; });
    });
    var entry = data[m];
    if (!entry) return;
    var spec = entry.spec, score = 1, complete = true;
    Object.keys(spec.factors).forEach(function (f) {
      var sel = form.querySelector("select[name='" + m + "_" + f + "']");
      if (!sel || sel.value === "") { complete = false; return; }
      score *= Number(sel.value);
    });
    if (!complete) { out.textContent = "—"; lvl.textContent = ""; lvl.className = "badge"; return; }
    score = Math.round(score * 1e6) / 1e6;
    var level = levelFor(spec, score);
    out.textContent = String(score);
    lvl.textContent = labels[level] || level;
    lvl.className = "badge risk-level-" + level;
    lvl.setAttribute("data-level", level);
  }

  form.addEventListener("change", update);
  update();
})();
