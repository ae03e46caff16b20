// PlantGuard phone permit pages (/m/permits). Every step on a permit (a safety measure, a gas
// analysis, a sign-off or approval with the finger-drawn signature as a PNG, start, suspend,
// resume, complete, acceptance) goes through the shared offline queue (offline-queue.js,
// IndexedDB) and is sent to the permit JSON API in order, each with its own Idempotency-Key:
// online the queue empties at once; offline the steps wait on the phone and are replayed once
// when the network returns. A step the server refuses stays listed with the server's message
// (which cites the clause of GB 30871-2022), and the later steps of that permit are held back
// until it is retried or discarded. While steps wait, the page shows the status they lead to.
// The apply form (/m/permits/new) is sent straight away when online, so a refusal is shown at
// its field; without network the application waits in the same queue.
// The live readings of the permit's bound gas points are polled every 5 s.
(function () {
  "use strict";
  var cfgEl = document.getElementById("pm-config");
  if (!cfgEl || !window.indexedDB || !window.PlantGuardOfflineQueue) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var T = cfg.t;
  var LIVE_EVERY_MS = 5000;

  function api(permitId, tail) { return "/api/v1/permits/" + permitId + "/" + tail; }

  // One queued item: an application (created once, then submitted once) or one step.
  function send(it, q) {
    if (it.action === "apply") return sendApplication(it, q);
    var tail = {
      measure: "measures/" + encodeURIComponent(it.code || ""), gas: "gas-analyses", sign: "signatures",
      approve: "approval"
    }[it.action] || it.action;
    return q.post(api(it.permitId, tail), it.id, it.body || {}, true);
  }

  function sendApplication(it, q) {
    var first = it.permitId ? Promise.resolve({ ok: true }) :
      q.post("/api/v1/permits", it.id, it.body, true).then(function (r) {
        if (!r.ok) return r;
        it.permitId = r.body && r.body.id;
        it.number = (r.body && r.body.number) || "";
        return q.put(it).then(function () { return r; });
      });
    return first.then(function (r) {
      if (!r.ok || !it.thenSubmit) return r;
      return q.post(api(it.permitId, "submit"), it.id + "-s", { note: "" }, true);
    });
  }

  function label(it) {
    var a = T.actions[it.action] || it.action;
    if (it.action === "approve" && it.body && it.body.approve === false) a = T.actions.refuse;
    if (it.action === "gas" && it.body) a += " " + it.body.value + " " + it.body.unit;
    if (it.action === "measure") a += " " + (it.code || "");
    return a;
  }

  var queue = window.PlantGuardOfflineQueue.create({
    db: "plantguard-permits", store: "steps", cfg: cfg, send: send,
    holdBy: function (it) { return it.permitId || null; },
    describe: function (it) {
      return { attrs: { "data-action": it.action }, text: (it.number ? it.number + " · " : "") + label(it) };
    },
    onRefresh: function (items) { showStatus(items); markList(items); markMeasures(items); },
    onSent: function (sent, items) {
      var done = document.getElementById("pm-done");
      if (done && !done.hidden) done.textContent = T.sent || done.textContent;
      // The server's state changed: show it, once nothing more waits to be sent.
      if (!queue.waiting(items) && navigator.onLine !== false && !document.getElementById("pm-form")) {
        window.location.reload();
      }
    }
  });

  function permitEl() { return document.getElementById("pm-permit"); }

  function enqueue(fields) {
    var p = permitEl();
    fields.permitId = Number(p.dataset.permit);
    fields.number = p.dataset.number;
    return queue.add(fields);
  }

  // -- what the page shows while steps wait --------------------------------------------------

  function showStatus(items) {
    var p = permitEl();
    if (!p) return;
    var id = Number(p.dataset.permit), status = p.dataset.status, queuedBlocks = {};
    items.forEach(function (it) {
      if (it.permitId !== id || it.state === "refused" || it.state === "held") return;
      queuedBlocks[it.action] = true;
      var next = cfg.leads[it.action];
      if (next) status = next;
    });
    var badge = document.getElementById("pm-status");
    if (status !== p.dataset.status) {
      badge.textContent = (cfg.statusNames[status] || status) + " · " + T.queued;
      badge.dataset.pending = status;
    }
    document.querySelectorAll("[data-block][data-when]").forEach(function (b) {
      var shown = b.dataset.when.split(" ").indexOf(status) >= 0;
      if (b.dataset.block === "approve" && queuedBlocks.approve) shown = false;  // signed, waiting to sync
      b.hidden = !shown;
    });
  }

  function markList(items) {
    var permits = {};
    items.forEach(function (it) { if (it.permitId) permits[it.permitId] = true; });
    document.querySelectorAll(".pm-card[data-permit]").forEach(function (card) {
      var badge = card.querySelector("[data-sync-badge]");
      if (badge) badge.hidden = !permits[Number(card.dataset.permit)];
    });
  }

  function markMeasures(items) {
    var p = permitEl();
    if (!p) return;
    var id = Number(p.dataset.permit), queued = {};
    items.forEach(function (it) {
      if (it.permitId === id && it.action === "measure" && it.state !== "refused") queued[it.code] = it.body.applicable;
    });
    document.querySelectorAll("li[data-measure]").forEach(function (li) {
      var code = li.dataset.measure;
      if (Object.prototype.hasOwnProperty.call(queued, code)) li.dataset.queued = queued[code] ? "yes" : "no";
      else delete li.dataset.queued;
    });
  }

  function showError(box, text) {
    if (!box) return;
    box.textContent = text || "";
    box.hidden = !text;
  }

  // -- the signature pad: a finger (or mouse) drawing on a canvas, sent as a PNG data URL ------

  function initPad(pad) {
    var canvas = pad.querySelector("canvas"), ctx = canvas.getContext("2d"), last = null;
    function size() {
      var r = canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
      if (!r.width) return;
      canvas.width = Math.round(r.width * dpr); canvas.height = Math.round(r.height * dpr);
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.lineWidth = 2.5; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#0b1f3a";
      pad.dataset.signed = "no";
    }
    function at(ev) { var r = canvas.getBoundingClientRect(); return { x: ev.clientX - r.left, y: ev.clientY - r.top }; }
    canvas.addEventListener("pointerdown", function (ev) {
      // A pad first shown after the page loaded (a block revealed by a queued step) is sized now.
      var r = canvas.getBoundingClientRect();
      if (Math.round(r.width * (window.devicePixelRatio || 1)) !== canvas.width) size();
      ev.preventDefault();
      if (canvas.setPointerCapture) canvas.setPointerCapture(ev.pointerId);
      last = at(ev);
      ctx.beginPath(); ctx.arc(last.x, last.y, 1.2, 0, 2 * Math.PI); ctx.fill();
    });
    canvas.addEventListener("pointermove", function (ev) {
      if (!last) return;
      ev.preventDefault();
      var pt = at(ev);
      ctx.beginPath(); ctx.moveTo(last.x, last.y); ctx.lineTo(pt.x, pt.y); ctx.stroke();
      if (Math.abs(pt.x - last.x) + Math.abs(pt.y - last.y) > 0) pad.dataset.signed = "yes";
      last = pt;
    });
    function end() { last = null; }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    pad.querySelector("[data-clear]").addEventListener("click", function () { size(); });
    pad.clear = size;
    pad.png = function () { return pad.dataset.signed === "yes" ? canvas.toDataURL("image/png") : null; };
    size();
  }

  // -- where the phone is, when the person allows it (sent with sign-offs and approvals) ----------

  var position = null;
  function locate() {
    var lines = document.querySelectorAll("[data-gps]");
    if (!lines.length) return;
    function show(state, text) { lines.forEach(function (l) { l.dataset.state = state; l.textContent = text; }); }
    if (!navigator.geolocation) { show("absent", T.noLocation); return; }
    show("locating", T.locating);
    navigator.geolocation.getCurrentPosition(function (pos) {
      position = { lat: Math.round(pos.coords.latitude * 1e6) / 1e6, lon: Math.round(pos.coords.longitude * 1e6) / 1e6 };
      show("located", T.located + " · " + position.lat.toFixed(5) + ", " + position.lon.toFixed(5));
    }, function () { position = null; show("absent", T.noLocation); },
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }
  function where(body) {
    body.lat = position ? position.lat : null;
    body.lon = position ? position.lon : null;
    return body;
  }

  // -- the steps on one permit --------------------------------------------------------------------

  function value(form, name) {
    var e = form.querySelector("[name='" + name + "']");
    return e ? e.value.trim() : "";
  }

  function stepBody(form, step, submitter) {
    var err = form.querySelector("[data-error]"), pad = form.querySelector("[data-pad]");
    showError(err, "");
    if (step === "gas") {
      var raw = value(form, "value").replace(",", ".");
      if (!raw || isNaN(Number(raw))) { showError(err, T.required); return null; }
      return { kind: value(form, "kind"), gas_code: value(form, "gas_code") || null, value: Number(raw),
               unit: value(form, "unit"), sample_point: value(form, "sample_point"),
               sampled_at: new Date().toISOString() };  // when it was measured, not when it is synced
    }
    if (step === "approve") {
      var approve = !submitter || submitter.dataset.decision !== "refuse";
      var comment = value(form, "comment");
      if (!approve && !comment) { showError(err, T.refusalReason); return null; }
      var png = pad && pad.png();
      if (approve && !png) { showError(err, T.drawSignature); return null; }
      var body = where({ approve: approve, comment: comment, signature_png: png || null });
      if (value(form, "role")) body.role = value(form, "role");
      return body;
    }
    if (step === "sign" || step === "close") {
      var sig = pad && pad.png();
      if (!sig) { showError(err, T.drawSignature); return null; }
      var b = where({ comment: value(form, "comment"), signature_png: sig });
      if (step === "sign") b.step = value(form, "step");
      return b;
    }
    if (step === "suspend") return { reason: value(form, "reason"), note: value(form, "note") };
    return { note: value(form, "note") };
  }

  function afterQueued(form, step) {
    form.querySelectorAll("input:not([type=hidden]), textarea").forEach(function (e) { e.value = ""; });
    var pad = form.querySelector("[data-pad]");
    if (pad && pad.clear) pad.clear();
    if (step === "sign") {
      var sel = form.querySelector("[name='step']");
      if (sel && sel.selectedIndex >= 0) sel.remove(sel.selectedIndex);
      if (sel && !sel.options.length) form.hidden = true;
    }
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.dataset || !form.dataset.step || !permitEl()) return;
    ev.preventDefault();
    var step = form.dataset.step;
    var body = stepBody(form, step, ev.submitter);
    if (!body) return;
    enqueue({ action: step, body: body });
    afterQueued(form, step);
  });

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("[data-confirm]") : null;
    if (!btn || !permitEl()) return;
    enqueue({ action: "measure", code: btn.dataset.confirm,
              body: { applicable: btn.dataset.applicable === "1", note: "" } });
  });

  // -- live gas readings of the bound points -----------------------------------------------------

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) e.textContent = text;
    return e;
  }

  function pollLive() {
    var box = document.getElementById("pm-live");
    if (!box || navigator.onLine === false || document.hidden) return;
    fetch(box.dataset.live, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (res) { return res.ok ? res.json() : null; }, function () { return null; })
      .then(function (data) {
        if (!data) return;
        var list = document.getElementById("pm-live-list"), empty = document.getElementById("pm-live-empty");
        list.textContent = "";
        (data.points || []).forEach(function (pt) {
          var passed = pt.passed === null || pt.passed === undefined ? "" : (pt.passed ? "yes" : "no");
          var li = el("li", { "data-point": String(pt.point_id), "data-passed": passed });
          li.appendChild(el("strong", {}, pt.code + " · " + pt.name));
          li.appendChild(el("span", {}, pt.kind + ": " + (pt.value === null ? "—" : pt.value + " " + pt.unit) +
                                        (passed ? " · " + (pt.passed ? T.pass : T.fail) : "")));
          li.appendChild(el("span", { "class": "m-meta" }, (pt.limit || "") + (pt.at ? " · " + pt.at : "")));
          list.appendChild(li);
        });
        empty.textContent = data.empty || T.noLive;
        empty.hidden = (data.points || []).length > 0;
      });
  }

  // -- the apply form ---------------------------------------------------------------------------

  var form = document.getElementById("pm-form");

  function chosenType() { return document.getElementById("pm-type").value; }
  function typeFields() { return document.getElementById("pm-fields-" + chosenType()); }

  function showType() {
    document.querySelectorAll(".pm-type-fields").forEach(function (fs) {
      var on = fs.dataset.type === chosenType();
      fs.hidden = !on; fs.disabled = !on;
    });
  }

  function num(id) { var v = document.getElementById(id).value; return v ? Number(v) : null; }

  function application() {
    var fs = typeFields(), fields = {};
    fs.querySelectorAll("[data-f]").forEach(function (e) {
      var name = e.dataset.f, kind = e.dataset.kind;
      if (kind === "bool") { if (e.checked) fields[name] = true; return; }
      if (kind === "multi") {
        var chosen = Array.prototype.map.call(e.selectedOptions, function (o) { return o.value; });
        if (chosen.length) fields[name] = chosen;
        return;
      }
      var v = e.value.trim();
      if (!v) return;
      if (kind === "number") { var n = Number(v.replace(",", ".")); fields[name] = isNaN(n) ? v : n; } else fields[name] = v;
    });
    var grade = fs.querySelector("[data-grade]");
    var workers = [];
    document.querySelectorAll("#pm-workers .pm-row").forEach(function (row) {
      var who = row.querySelector("[data-worker]").value;
      if (who) workers.push({ person_id: Number(who), role: row.querySelector("[data-worker-role]").value });
    });
    return {
      type_code: chosenType(), grade: grade && grade.value ? grade.value : null, fields: fields,
      content: document.getElementById("pm-content").value.trim(), area_id: num("pm-area"),
      location: document.getElementById("pm-location").value.trim(),
      planned_start: document.getElementById("pm-start").value, planned_end: document.getElementById("pm-end").value,
      gas_code: document.getElementById("pm-gas").value || null,
      work_leader_id: num("pm-leader"), guardian_id: num("pm-guardian"), workers: workers
    };
  }

  function clearErrors() {
    document.querySelectorAll("[data-err-for]").forEach(function (p) { p.hidden = true; p.textContent = ""; });
    document.querySelectorAll(".pm-invalid").forEach(function (f) { f.classList.remove("pm-invalid"); });
    showError(document.getElementById("pm-form-error"), "");
  }

  // Each refusal at its field (in the chosen type's fields first); the rest listed on top.
  function showErrors(detail, errors) {
    var rest = [], first = null;
    (errors || []).forEach(function (e) {
      var sel = "[data-err-for='" + e.field + "']";
      var target = typeFields().querySelector(sel) ||
        Array.prototype.filter.call(form.querySelectorAll(sel), function (p) { return !p.closest(".pm-type-fields"); })[0];
      if (!target) { rest.push(e); return; }
      target.textContent = (target.hidden ? "" : target.textContent + " ") + e.message;
      target.hidden = false;
      var wrap = target.closest(".pm-field");
      if (wrap) wrap.classList.add("pm-invalid");
      if (!first) first = target;
    });
    var box = document.getElementById("pm-form-error");
    box.textContent = "";
    box.appendChild(el("p", {}, detail || T.checkFields));
    if (rest.length) {
      var ul = el("ul");
      rest.forEach(function (e) { ul.appendChild(el("li", { "data-field": e.field }, (e.label ? e.label + ": " : "") + e.message)); });
      box.appendChild(ul);
    }
    box.hidden = false;
    (first || box).scrollIntoView({ block: "center" });
  }

  function postJson(url, key, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": cfg.csrf,
                 "Idempotency-Key": key, "Accept-Language": cfg.lang }
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (b) { return { status: res.status, body: b }; });
    });
  }

  // The form's key goes with it: an application whose answer was lost is not applied twice.
  function keepOffline(body, thenSubmit, key) {
    return queue.store({ id: key, action: "apply", body: body, thenSubmit: thenSubmit, permitId: null, number: "" })
      .then(function () {
        var done = document.getElementById("pm-done");
        done.textContent = T.saved; done.hidden = false;
        form.dataset.key = queue.newKey();
        return queue.refresh();
      }).then(queue.sync);
  }

  function onApply(ev) {
    ev.preventDefault();
    clearErrors();
    var body = application(), thenSubmit = document.getElementById("pm-then-submit").checked;
    var missing = [];
    if (!body.content) missing.push({ field: "content", message: T.required });
    if (!body.area_id) missing.push({ field: "area_id", message: T.required });
    if (missing.length) { showErrors(T.checkFields, missing); return; }
    var key = form.dataset.key || (form.dataset.key = queue.newKey());
    var btn = document.getElementById("pm-send");
    if (navigator.onLine === false) { keepOffline(body, thenSubmit, key); return; }
    btn.disabled = true;
    postJson("/api/v1/permits", key, body).then(function (r) {
      if (r.status === 201 || r.status === 200) {
        var id = r.body.id;
        if (!thenSubmit) { window.location.assign("/m/permits/" + id); return undefined; }
        return postJson(api(id, "submit"), key + "-s", { note: "" }).then(function (s) {
          if (s.status < 400) { window.location.assign("/m/permits/" + id); return; }
          btn.disabled = false;
          showErrors((s.body && s.body.detail) || String(s.status), s.body && s.body.errors);
          var link = el("a", { href: "/m/permits/" + id, id: "pm-open-draft" }, r.body.number || String(id));
          document.getElementById("pm-form-error").appendChild(link);
        });
      }
      btn.disabled = false;
      if (r.status === 401) { showErrors(T.signin, []); return undefined; }
      if (r.status >= 500) { return keepOffline(body, thenSubmit, key); }
      showErrors(r.body && r.body.detail, r.body && r.body.errors);
      return undefined;
    }, function () {  // no answer: the network went away meanwhile
      btn.disabled = false;
      return keepOffline(body, thenSubmit, key);
    });
  }

  function addWorker() {
    var rows = document.querySelectorAll("#pm-workers .pm-row");
    var last = rows[rows.length - 1], i = rows.length;
    var row = last.cloneNode(true);
    row.dataset.row = String(i);
    var sel = row.querySelector("[data-worker]");
    sel.id = "pm-worker-" + i; sel.value = "";
    sel.setAttribute("aria-label", sel.getAttribute("aria-label").replace(/\d+$/, String(i + 1)));
    var err = row.querySelector("[data-err-for]");
    err.dataset.errFor = "workers." + i + ".person_id"; err.hidden = true; err.textContent = "";
    last.parentNode.insertBefore(row, last.nextSibling);
  }

  if (form) {
    form.dataset.key = queue.newKey();
    form.addEventListener("submit", onApply);
    document.getElementById("pm-type").addEventListener("change", showType);
    document.getElementById("pm-add-worker").addEventListener("click", addWorker);
    showType();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-pad]").forEach(initPad);
    locate();
    if (document.getElementById("pm-live") && document.getElementById("pm-live").dataset.points === "yes") {
      pollLive();
      window.setInterval(pollLive, LIVE_EVERY_MS);
    }
  });
  queue.start();
})();
