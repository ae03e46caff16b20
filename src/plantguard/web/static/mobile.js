// PlantGuard phone task app (/m/): every step (take on, progress note, photo, hand over) goes
// through the offline queue (offline-queue.js: IndexedDB, photos as Blobs) and is sent to the
// JSON API in order. Online, the queue empties at once; offline, steps wait on the phone and are
// replayed on the "online" event, on page load and every 15 s. Each step carries its own
// Idempotency-Key, so a replay of a step whose answer was lost is answered from the server's
// record instead of acting twice. A step the server refuses (reassigned, cancelled...) stays in
// the list with the server's message, and the later steps of the same task are held back until
// it is retried or discarded.
(function () {
  "use strict";
  var cfgEl = document.getElementById("m-config");
  if (!cfgEl || !window.indexedDB || !window.PlantGuardOfflineQueue) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var T = cfg.t;

  function send(it, q) {
    var url = "/api/v1/workorders/" + it.orderId + "/" + (it.action === "photo" ? "attachments" : it.action);
    if (it.action !== "photo") return q.post(url, it.id, { note: it.note || "" }, true);
    var form = new FormData();
    form.append("file", it.blob, it.filename || "photo.jpg");
    form.append("kind", it.kind);
    return q.post(url, it.id, form, false);
  }

  function label(it) {
    if (it.action === "photo") return T.photo + " · " + (T[it.kind] || it.kind);
    return T[it.action] || it.action;
  }

  var queue = window.PlantGuardOfflineQueue.create({
    db: "plantguard-m", store: "queue", cfg: cfg, send: send,
    holdBy: function (it) { return it.orderId; },  // a refused step holds back the later steps of its task
    describe: function (it) {
      return { attrs: { "data-action": it.action }, blob: it.blob,
               text: (it.number ? it.number + " · " : "") + label(it) };
    },
    onRefresh: function (items) { showStatus(items); markList(items); },
    onSent: function (sent, items) {
      // The server state changed: show it (only once the queue holds nothing more to send).
      if (!queue.waiting(items) && navigator.onLine !== false) window.location.reload();
    }
  });

  function enqueue(fields) {
    var task = document.getElementById("m-task");
    fields.number = task ? task.dataset.number : "";
    return queue.add(fields);
  }

  // -- what the page shows --------------------------------------------------------------------

  // The task page shows the state the queued steps will lead to, so work goes on offline.
  function showStatus(items) {
    var task = document.getElementById("m-task");
    if (!task) return;
    var id = Number(task.dataset.order), status = task.dataset.status;
    items.forEach(function (it) {
      if (it.orderId !== id || it.state === "refused" || it.state === "held") return;
      if (it.action === "accept" && status === "dispatched") status = "in_progress";
      if (it.action === "submit" && status === "in_progress") status = "awaiting_acceptance";
    });
    var badge = document.getElementById("m-status");
    if (status !== task.dataset.status && T.status[status]) {
      badge.textContent = T.status[status] + " · " + T.queued;
      badge.dataset.pending = status;
    }
    document.querySelectorAll("[data-when]").forEach(function (e) { e.hidden = e.dataset.when !== status; });
  }

  function markList(items) {
    var orders = {};
    items.forEach(function (it) { orders[it.orderId] = true; });
    document.querySelectorAll(".m-card[data-order]").forEach(function (card) {
      var badge = card.querySelector("[data-sync-badge]");
      if (badge) badge.hidden = !orders[Number(card.dataset.order)];
    });
  }

  function showError(id, text) {
    var e = document.getElementById(id);
    if (!e) return;
    e.textContent = text || "";
    e.hidden = !text;
  }

  // -- the steps --------------------------------------------------------------------------------

  document.addEventListener("submit", function (ev) {
    var form = ev.target, task = document.getElementById("m-task");
    if (!form.dataset || !form.dataset.step || !task) return;
    ev.preventDefault();
    var step = form.dataset.step, note = "";
    if (step === "update") {
      note = form.querySelector("textarea").value.trim();
      if (!note) { showError("m-note-error", T.required); return; }
      showError("m-note-error", "");
    }
    enqueue({ orderId: Number(task.dataset.order), action: step, note: note }).then(function () {
      if (step === "update") form.querySelector("textarea").value = "";
    });
  });

  document.addEventListener("change", function (ev) {
    var input = ev.target, task = document.getElementById("m-task");
    if (!input.dataset || !input.dataset.photo || !task || !input.files || !input.files.length) return;
    var file = input.files[0];
    if (file.size > cfg.maxBytes) { showError("m-photo-error", T.tooLarge); input.value = ""; return; }
    showError("m-photo-error", "");
    // A Blob copy of the photo: it must outlive the page (the File only refers to the picker's choice).
    file.arrayBuffer().then(function (buf) {
      var blob = new Blob([buf], { type: file.type || "application/octet-stream" });
      input.value = "";
      return enqueue({ orderId: Number(task.dataset.order), action: "photo", kind: input.dataset.photo,
                       blob: blob, filename: file.name || "photo.jpg" });
    });
  });

  // Keep the task pages for offline use: the list fetches its open tasks into the pages cache.
  function keepTasks() {
    if (!window.caches || !navigator.serviceWorker || !navigator.serviceWorker.controller) return;
    var links = Array.prototype.slice.call(document.querySelectorAll("#m-open .m-card-link"), 0, 30);
    if (!links.length) return;
    caches.open("plantguard-pages").then(function (cache) {
      links.forEach(function (a) {
        fetch(a.href, { credentials: "same-origin" }).then(function (res) {
          if (res.ok && !res.redirected) return cache.put(a.href, res);
          return undefined;
        }).catch(function () { /* offline: keep what is cached */ });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (navigator.onLine !== false) keepTasks();
  });
  queue.start();
})();
