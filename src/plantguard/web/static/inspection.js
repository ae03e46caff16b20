/* The QR check-in page (/i/{token}): check in with the browser's location (or the reason
   there is none — never a made-up position), then send every item's result. Each step
   carries an Idempotency-Key kept in sessionStorage, so a retry after a lost reply returns
   the first answer instead of a second check-in. */
(function () {
  "use strict";
  var cfgEl = document.getElementById("insp-config");
  if (!cfgEl) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var T = cfg.t;
  var msg = document.getElementById("insp-msg");
  var btn = document.getElementById("insp-checkin");
  var form = document.getElementById("insp-form");
  if (!cfg.task || !btn || !form) return;

  function say(text, kind) {
    msg.hidden = false;
    msg.textContent = text;
    msg.className = "insp-msg " + (kind || "");
  }
  function key(step) {
    var name = "insp-key-" + cfg.task + "-" + step;
    var k = sessionStorage.getItem(name);
    if (!k) {
      var a = new Uint8Array(16);
      crypto.getRandomValues(a);
      k = Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
      sessionStorage.setItem(name, k);
    }
    return k;
  }
  function problem(res, body) {
    if (body && body.errors && body.errors.length) {
      return body.errors.map(function (e) { return (e.label ? e.label + ": " : "") + e.message; }).join("; ");
    }
    return (body && body.detail) || String(res.status);
  }
  function send(path, step, body, isForm) {
    var headers = { "X-CSRF-Token": cfg.csrf, "Idempotency-Key": key(step), "Accept": "application/json" };
    if (!isForm) headers["Content-Type"] = "application/json";
    return fetch("/api/v1/inspections/" + cfg.task + path, {
      method: "POST", credentials: "same-origin", headers: headers, body: isForm ? body : JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (b) {
        if (!res.ok) throw new Error(problem(res, b));
        return b;
      });
    }, function () { throw new Error(T.network); });
  }
  function locate() {
    return new Promise(function (resolve) {
      if (!navigator.geolocation) { resolve({ geo_status: "unavailable" }); return; }
      navigator.geolocation.getCurrentPosition(function (p) {
        resolve({ geo_status: "ok", lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy });
      }, function (err) {
        resolve({ geo_status: err && err.code === 1 ? "denied" : "unavailable" });
      }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
    });
  }

  var checkinId = null;
  btn.addEventListener("click", function () {
    btn.disabled = true;
    say(T.locating);
    locate().then(function (geo) {
      geo.token = cfg.token;
      return send("/checkin", "checkin", geo);
    }).then(function (ci) {
      checkinId = ci.id;
      var note = ci.geo_status === "ok" ? "" : " · " + (ci.geo_status === "denied" ? T.noGeo : T.noGeoUnavailable);
      say(T.checkedIn + note, "ok");
      btn.hidden = true;
      form.hidden = false;
    }).catch(function (e) { say(e.message, "err"); btn.disabled = false; });
  });

  form.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t && t.type === "radio") {
      var fs = t.closest("fieldset");
      fs.querySelector(".insp-fail").hidden = t.value !== "not_ok";
    }
  });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var items = Array.prototype.slice.call(form.querySelectorAll("fieldset[data-item]"));
    var results = [];
    for (var i = 0; i < items.length; i++) {
      var fs = items[i];
      var id = Number(fs.getAttribute("data-item"));
      var chosen = fs.querySelector("input[type=radio]:checked");
      var note = fs.querySelector("textarea").value.trim();
      var file = fs.querySelector("input[type=file]").files[0] || null;
      if (chosen.value === "not_ok" && !note) { say(T.noteRequired, "err"); fs.querySelector("textarea").focus(); return; }
      if (file && file.size > cfg.maxBytes) { say(T.tooLarge, "err"); return; }
      results.push({ item_id: id, outcome: chosen.value, note: note, file: chosen.value === "not_ok" ? file : null });
    }
    var submit = document.getElementById("insp-submit");
    submit.disabled = true;
    say(T.sending);
    var chain = Promise.resolve();
    results.forEach(function (r) {
      if (!r.file) return;
      chain = chain.then(function () {
        var fd = new FormData();
        fd.append("file", r.file, r.file.name || "photo.jpg");
        return send("/photos", "photo-" + r.item_id, fd, true).then(function (p) { r.photo_id = p.id; });
      });
    });
    chain.then(function () {
      return send("/results", "results", { checkin_id: checkinId, results: results.map(function (r) {
        return { item_id: r.item_id, outcome: r.outcome, note: r.note, photo_id: r.photo_id || null };
      }) });
    }).then(function () {
      form.hidden = true;
      say(T.done, "ok");
      document.body.setAttribute("data-done", "1");
    }).catch(function (e) { say(e.message, "err"); submit.disabled = false; });
  });
})();
