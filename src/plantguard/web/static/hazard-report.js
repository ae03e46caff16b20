// PlantGuard phone hazard report (/m/hazards/new, /m/hazards). A report (its fields and the
// camera photos as Blobs) is put in the offline queue (offline-queue.js, IndexedDB) first, then
// sent: POST /api/v1/hazards with the report's Idempotency-Key, then each photo to
// /api/v1/hazards/{id}/attachments with its own key. Offline, reports wait on the phone and are
// sent on the "online" event, on page load and every 15 s; the hazard id and the photos already
// sent are remembered, so a report interrupted half-way resumes where it stopped and a replay is
// answered from the server's record instead of creating a second hazard. A report the server
// refuses stays listed with the server's message (retry or discard).
// While typing, the classifier's suggestion is shown as a chip; only a tap on "use" applies it.
(function () {
  "use strict";
  var cfgEl = document.getElementById("h-config");
  if (!cfgEl || !window.indexedDB || !window.PlantGuardOfflineQueue) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var T = cfg.t;

  // One report: the hazard first (once), then its photos one by one. {ok} | {retry} | {refused}.
  function send(it, q) {
    var first = it.hazardId ? Promise.resolve({ ok: true }) :
      q.post("/api/v1/hazards", it.id, it.body, true).then(function (r) {
        if (!r.ok) return r;
        it.hazardId = r.body && r.body.id;
        it.number = (r.body && r.body.number) || "";
        return q.put(it).then(function () { return r; });
      });
    return first.then(function (r) {
      if (!r.ok) return r;
      var chain = Promise.resolve({ ok: true });
      (it.photos || []).forEach(function (p, i) {
        chain = chain.then(function (prev) {
          if (!prev.ok || p.sent) return prev;
          var form = new FormData();
          form.append("file", p.blob, p.filename || "photo.jpg");
          form.append("kind", "before");
          return q.post("/api/v1/hazards/" + it.hazardId + "/attachments", it.id + "-p" + i, form, false)
            .then(function (pr) {
              if (!pr.ok) return pr;
              p.sent = true; p.blob = null;
              return q.put(it).then(function () { return pr; });
            });
        });
      });
      return chain;
    });
  }

  var queue = window.PlantGuardOfflineQueue.create({
    db: "plantguard-hazards", store: "reports", cfg: cfg, send: send,
    describe: function (it) {
      var firstPhoto = (it.photos || []).filter(function (p) { return p.blob; })[0];
      var left = (it.photos || []).filter(function (p) { return !p.sent; }).length;
      return { blob: firstPhoto && firstPhoto.blob,
               text: (it.number ? it.number + " · " : "") + it.body.description.slice(0, 40) +
                     (it.hazardId && left ? " · " + left + " " + T.photosLeft : "") };
    },
    onSent: function (sent, items) {
      var done = document.getElementById("h-done");
      if (done && !done.hidden) done.textContent = T.sent;
      // the list page shows the server's records: reload it once nothing more is to be sent
      if (!queue.waiting(items) && document.getElementById("h-mine-page")) window.location.reload();
    }
  });

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) e.textContent = text;
    return e;
  }
  function showError(id, text) {
    var e = document.getElementById(id);
    if (!e) return;
    e.textContent = text || "";
    e.hidden = !text;
  }

  // -- the form ---------------------------------------------------------------------------------

  var form = document.getElementById("h-form");
  var photos = [];  // {blob, filename}
  var position = null;  // {lat, lon} or null (denied / unavailable: sent as absent)

  function locate() {
    var gps = document.getElementById("h-gps");
    if (!gps) return;
    if (!navigator.geolocation) { gps.dataset.state = "absent"; gps.textContent = T.noLocation; return; }
    gps.dataset.state = "locating"; gps.textContent = T.locating;
    navigator.geolocation.getCurrentPosition(function (pos) {
      position = { lat: Math.round(pos.coords.latitude * 1e6) / 1e6, lon: Math.round(pos.coords.longitude * 1e6) / 1e6 };
      gps.dataset.state = "located";
      gps.textContent = T.located + " · " + position.lat.toFixed(5) + ", " + position.lon.toFixed(5);
    }, function () {
      position = null; gps.dataset.state = "absent"; gps.textContent = T.noLocation;
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  function showThumbs() {
    var box = document.getElementById("h-thumbs");
    box.querySelectorAll("img").forEach(function (img) { URL.revokeObjectURL(img.src); });
    box.textContent = "";
    photos.forEach(function (p, i) {
      var wrap = el("span", { "class": "h-thumb-wrap" });
      var img = el("img", { "class": "m-thumb", alt: "" });
      img.src = URL.createObjectURL(p.blob);
      var x = el("button", { type: "button", "aria-label": T.discard }, "×");
      x.addEventListener("click", function () { photos.splice(i, 1); showThumbs(); });
      wrap.appendChild(img); wrap.appendChild(x); box.appendChild(wrap);
    });
  }

  // The suggestion: asked for while typing (debounced), shown as a chip, applied only on a tap.
  var timer = null, asked = "", suggestion = null;
  function askSuggestion() {
    var text = document.getElementById("h-description").value.trim();
    var box = document.getElementById("h-suggest"), chip = document.getElementById("h-chip");
    var take = document.getElementById("h-take"), unsure = document.getElementById("h-unsure");
    if (text === asked) return;
    asked = text;
    if (text.length < 4) { box.hidden = true; suggestion = null; return; }
    if (navigator.onLine === false) {
      box.hidden = false; chip.hidden = true; take.hidden = true; unsure.hidden = false; unsure.textContent = T.suggestOffline;
      return;
    }
    fetch("/api/v1/hazards/suggest", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": cfg.csrf,
                 "Accept-Language": cfg.lang },
      body: JSON.stringify({ text: text })
    }).then(function (res) { return res.ok ? res.json() : null; }, function () { return null; }).then(function (s) {
      if (text !== asked) return;  // a newer question is on its way
      if (!s || !s.available) { box.hidden = true; suggestion = null; return; }
      suggestion = s;
      box.hidden = false;
      var pct = Math.round((s.confidence || 0) * 100);
      if ((s.confidence || 0) < cfg.confident) {
        chip.hidden = true; take.hidden = true; unsure.hidden = false;
        unsure.textContent = T.unsure + " (" + (T.categories[s.category] || s.category) + "? " + pct + "%)";
        return;
      }
      unsure.hidden = true; chip.hidden = false; take.hidden = false; take.disabled = false;
      take.textContent = T.take;
      chip.dataset.category = s.category; chip.dataset.grade = s.grade || "";
      chip.textContent = T.suggest + ": " + (T.categories[s.category] || s.category) +
        (s.grade ? " · " + (T.grades[s.grade] || s.grade) : "") + " · " + pct + "%";
    });
  }
  function onTake() {
    if (!suggestion) return;
    document.getElementById("h-category").value = suggestion.category || "";
    if (suggestion.grade) document.getElementById("h-grade").value = suggestion.grade;
    var take = document.getElementById("h-take");
    take.textContent = T.taken; take.disabled = true;
  }

  function onSubmit(ev) {
    ev.preventDefault();
    var description = document.getElementById("h-description").value.trim();
    var area = document.getElementById("h-area").value, equipment = document.getElementById("h-equipment").value;
    showError("h-description-error", description ? "" : T.required);
    showError("h-area-error", area || equipment ? "" : T.areaRequired);
    if (!description || !(area || equipment)) return;
    if (!area && equipment) {  // the equipment's area, so the report always has one
      var opt = document.querySelector('#h-equipment option[value="' + equipment + '"]');
      area = opt ? opt.dataset.area : "";
    }
    var body = { description: description, area_id: area ? Number(area) : null,
                 equipment_id: equipment ? Number(equipment) : null,
                 location: document.getElementById("h-location").value.trim(),
                 lat: position ? position.lat : null, lon: position ? position.lon : null,
                 category: document.getElementById("h-category").value || null,
                 grade: document.getElementById("h-grade").value || null };
    queue.store({ body: body, photos: photos.slice(), hazardId: null, number: "" }).then(function () {
      form.reset(); photos = []; showThumbs(); asked = ""; suggestion = null;
      document.getElementById("h-suggest").hidden = true;
      var done = document.getElementById("h-done");
      done.textContent = T.saved; done.hidden = false;
      locate();
      return queue.refresh();
    }).then(queue.sync);
  }

  if (form) {
    form.addEventListener("submit", onSubmit);
    document.getElementById("h-description").addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(askSuggestion, 600);
    });
    document.getElementById("h-take").addEventListener("click", onTake);
    document.getElementById("h-equipment").addEventListener("change", function (ev) {
      var opt = ev.target.selectedOptions[0], area = document.getElementById("h-area");
      if (opt && opt.dataset.area && !area.value) area.value = opt.dataset.area;
    });
    document.getElementById("h-photo").addEventListener("change", function (ev) {
      var input = ev.target;
      if (!input.files || !input.files.length) return;
      var file = input.files[0];
      input.value = "";
      if (file.size > cfg.maxBytes) { showError("h-photo-error", T.tooLarge); return; }
      if (photos.length >= cfg.maxPhotos) { showError("h-photo-error", T.tooMany); return; }
      showError("h-photo-error", "");
      // A Blob copy: it must outlive the page (the File only refers to the picker's choice).
      file.arrayBuffer().then(function (buf) {
        photos.push({ blob: new Blob([buf], { type: file.type || "application/octet-stream" }),
                      filename: file.name || "photo.jpg", sent: false });
        showThumbs();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (form) locate();
  });
  queue.start();
})();
