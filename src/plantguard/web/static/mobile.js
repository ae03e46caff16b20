// PlantGuard phone task app (/m/): every step (take on, progress note, photo, hand over) goes
// through a queue in IndexedDB (photos as Blobs) and is sent to the JSON API in order. Online,
// the queue empties at once; offline, steps wait on the phone and are replayed on the "online"
// event, on page load and every 15 s. Each step carries its own Idempotency-Key, so a replay of
// a step whose answer was lost is answered from the server's record instead of acting twice.
// A step the server refuses (reassigned, cancelled...) stays in the list with the server's
// message, and the later steps of the same task are held back until it is retried or discarded.
(function () {
  "use strict";
  var cfgEl = document.getElementById("m-config");
  if (!cfgEl || !window.indexedDB) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var T = cfg.t;
  var DB = "plantguard-m", STORE = "queue";
  var dbp = null;

  function open() {
    if (!dbp) {
      dbp = new Promise(function (resolve, reject) {
        var r = indexedDB.open(DB, 1);
        r.onupgradeneeded = function () { r.result.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true }); };
        r.onsuccess = function () { resolve(r.result); };
        r.onerror = function () { reject(r.error); };
      });
    }
    return dbp;
  }
  function tx(mode, fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, mode), out;
        var req = fn(t.objectStore(STORE));
        if (req) req.onsuccess = function () { out = req.result; };
        t.oncomplete = function () { resolve(out); };
        t.onerror = t.onabort = function () { reject(t.error); };
      });
    });
  }
  // Only this account's steps: another person signed in on the same phone must not send them.
  function mine() {
    return tx("readonly", function (s) { return s.getAll(); }).then(function (all) {
      return (all || []).filter(function (it) { return it.user === cfg.user && it.enterprise === cfg.enterprise; })
        .sort(function (a, b) { return a.seq - b.seq; });
    });
  }
  function put(it) { return tx("readwrite", function (s) { return s.put(it); }); }
  function del(seq) { return tx("readwrite", function (s) { return s["delete"](seq); }); }

  function newKey() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }

  function enqueue(fields) {
    var task = document.getElementById("m-task");
    var it = { id: newKey(), user: cfg.user, enterprise: cfg.enterprise, state: "queued", message: "",
               at: Date.now(), number: task ? task.dataset.number : "" };
    Object.keys(fields).forEach(function (k) { it[k] = fields[k]; });
    return tx("readwrite", function (s) { return s.add(it); }).then(refresh).then(sync);
  }

  function messageOf(body, status) {
    if (body && body.errors && body.errors.length) {
      return body.errors.map(function (e) { return e.label ? e.label + ": " + e.message : e.message; }).join("; ");
    }
    return (body && body.detail) || String(status);
  }

  // {ok} | {retry, message}: try again later | {refused, message}: the server said no.
  function send(it) {
    var headers = { "X-CSRF-Token": cfg.csrf, "Idempotency-Key": it.id, "Accept": "application/json",
                    "Accept-Language": cfg.lang };
    var url = "/api/v1/workorders/" + it.orderId + "/" + (it.action === "photo" ? "attachments" : it.action);
    var body;
    if (it.action === "photo") {
      body = new FormData();
      body.append("file", it.blob, it.filename || "photo.jpg");
      body.append("kind", it.kind);
    } else {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify({ note: it.note || "" });
    }
    return fetch(url, { method: "POST", credentials: "same-origin", headers: headers, body: body, cache: "no-store" })
      .then(function (res) {
        if (res.ok) return res.text().then(function () { return { ok: true }; });
        return res.json().catch(function () { return {}; }).then(function (b) {
          if (res.status === 401 || (b && b.code === "csrf_failed")) return { retry: true, message: T.signin };
          if (res.status >= 500 || res.status === 429 || res.status === 408) return { retry: true, message: "" };
          return { refused: true, message: messageOf(b, res.status) };
        });
      }, function () { return { retry: true, message: "" }; });
  }

  var syncing = false, again = false;
  function sync() {
    if (syncing) { again = true; return Promise.resolve(); }
    syncing = true;
    var sent = 0;
    return mine().then(function (items) {
      var held = {};
      var chain = Promise.resolve(false);
      items.forEach(function (it) {
        chain = chain.then(function (stop) {
          if (stop) return true;
          if (it.state === "refused") { held[it.orderId] = true; return false; }
          if (held[it.orderId]) {
            if (it.state === "held") return false;
            it.state = "held";
            return put(it).then(function () { return false; });
          }
          if (navigator.onLine === false) return true;
          it.state = "sending";
          return put(it).then(refresh).then(function () { return send(it); }).then(function (r) {
            if (r.ok) { sent += 1; return del(it.seq).then(function () { return false; }); }
            if (r.retry) { it.state = "queued"; it.message = r.message; return put(it).then(function () { return true; }); }
            it.state = "refused"; it.message = r.message; held[it.orderId] = true;
            return put(it).then(function () { return false; });
          });
        });
      });
      return chain;
    }).then(function () { return finish(sent); }, function () { return finish(sent); });
  }
  function finish(sent) {
    syncing = false;
    return refresh().then(function (items) {
      if (again) { again = false; return sync(); }
      // The server state changed: show it (only once the queue holds nothing more to send).
      var waiting = items.some(function (it) { return it.state === "queued" || it.state === "sending"; });
      if (sent && !waiting && navigator.onLine !== false) window.location.reload();
    });
  }

  // -- what the page shows --------------------------------------------------------------------

  function label(it) {
    if (it.action === "photo") return T.photo + " · " + (T[it.kind] || it.kind);
    return T[it.action] || it.action;
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) e.textContent = text;
    return e;
  }

  function refresh() {
    return mine().then(function (items) {
      var box = document.getElementById("m-queue"), list = document.getElementById("m-queue-items");
      var pending = items.filter(function (it) { return it.state !== "refused"; }).length;
      var counter = document.getElementById("m-pending");
      counter.textContent = (pending === 1 ? T.pendingOne : T.pendingOther).replace("{n}", String(pending));
      counter.dataset.count = String(pending);
      counter.hidden = pending === 0;
      box.hidden = items.length === 0;
      list.querySelectorAll("img").forEach(function (img) { URL.revokeObjectURL(img.src); });
      list.textContent = "";
      items.forEach(function (it) {
        var li = el("li", { "data-state": it.state, "data-action": it.action, "data-key": it.id });
        if (it.blob) { var img = el("img", { alt: "" }); img.src = URL.createObjectURL(it.blob); li.appendChild(img); }
        li.appendChild(el("span", {}, (it.number ? it.number + " · " : "") + label(it)));
        li.appendChild(el("span", { "class": "m-state" }, T[it.state] || it.state));
        if (it.message) li.appendChild(el("span", { "class": "m-msg" }, it.message));
        if (it.state === "refused") {
          var retry = el("button", { type: "button", "data-retry": "" }, T.retry);
          retry.addEventListener("click", function () { it.state = "queued"; it.message = ""; put(it).then(sync); });
          var drop = el("button", { type: "button", "data-discard": "" }, T.discard);
          drop.addEventListener("click", function () { del(it.seq).then(sync); });
          li.appendChild(retry); li.appendChild(drop);
        }
        list.appendChild(li);
      });
      showStatus(items);
      markList(items);
      return items;
    });
  }

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

  function onlineState() {
    var off = document.getElementById("m-offline");
    if (off) off.hidden = navigator.onLine !== false;
  }

  window.addEventListener("online", function () { onlineState(); sync(); });
  window.addEventListener("offline", onlineState);
  document.addEventListener("DOMContentLoaded", function () {
    onlineState();
    refresh().then(sync);
    if (navigator.onLine !== false) keepTasks();
    window.setInterval(function () { if (navigator.onLine !== false) sync(); }, 15000);
  });
})();
