// PlantGuard offline queue for the phone pages (/m/...): what a person does on the phone is put
// in IndexedDB first (photos as Blobs), then sent to the JSON API in order. Online, the queue
// empties at once; offline, items wait on the phone and are replayed on the "online" event, on
// page load and every 15 s. Each item carries its own Idempotency-Key (`it.id`), so a replay of a
// request whose answer was lost is answered from the server's record instead of acting twice.
// An item the server refuses stays listed with the server's message until it is retried or
// discarded; with `holdBy`, the later items of the same subject (one work order, one permit)
// are held back meanwhile, because they would act on a state that never came about.
// Only the signed-in account's items are sent or shown: another person using the same phone
// must not send them. Used by mobile.js (work orders) and hazard-report.js (hazard reports).
//
// API (plain ES5, no build step):
//
//   var q = PlantGuardOfflineQueue.create({
//     db: "plantguard-m", store: "queue",  // IndexedDB database and object store (one per page family;
//                                          // never rename one in use: phones hold queues under it)
//     cfg: cfg,        // the page's JSON config: csrf, user, enterprise, lang, and t, the texts:
//                      // pendingOne/pendingOther ("{n}" replaced), queued, sending, refused,
//                      // held (with holdBy), signin, retry, discard
//     send: function (it, q) {...},   // sends one item; resolves to what q.post resolves to:
//                                     // {ok, body} | {retry, message} | {refused, message}
//     holdBy: function (it) {...},    // optional: the item's subject key (null: never held)
//     describe: function (it) {...},  // optional: {text, blob, attrs} of the item's line in the list
//     onRefresh: function (items) {}, // optional: after each redraw of the list (items: this user's)
//     onSent: function (sent, items) {} // optional: after a sync that sent `sent` > 0 items
//   });
//   q.add(fields)      store a new item (fields merged into {id, user, enterprise, state, message,
//                      at}), redraw, sync; resolves when that sync is over
//   q.store(fields)    store only; resolves to the item (then call q.refresh / q.sync yourself)
//   q.post(url, key, body, json)   one POST with CSRF token, Idempotency-Key and language;
//                      json: body is an object sent as JSON, else a FormData
//   q.put(it), q.remove(seq), q.items(), q.refresh(), q.sync(), q.waiting(items), q.newKey()
//   q.start()          online/offline events, first redraw and sync once the page is loaded,
//                      a retry every 15 s while online
//
// The page provides #m-queue (shown while items wait) with #m-pending (the counter; its
// data-count is the number not refused) and #m-queue-items (one <li data-state data-key> per
// item, with retry/discard buttons when refused), and optionally #m-offline (shown offline).
(function () {
  "use strict";

  function newKey() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }

  function messageOf(body, status) {
    if (body && body.errors && body.errors.length) {
      return body.errors.map(function (e) { return e.label ? e.label + ": " + e.message : e.message; }).join("; ");
    }
    return (body && body.detail) || String(status);
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) e.textContent = text;
    return e;
  }

  function create(opts) {
    var cfg = opts.cfg, T = cfg.t;
    var DB = opts.db, STORE = opts.store || "queue";
    var dbp = null;
    var q = {};

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
    function items() {
      return tx("readonly", function (s) { return s.getAll(); }).then(function (all) {
        return (all || []).filter(function (it) { return it.user === cfg.user && it.enterprise === cfg.enterprise; })
          .sort(function (a, b) { return a.seq - b.seq; });
      });
    }
    function put(it) { return tx("readwrite", function (s) { return s.put(it); }); }
    function remove(seq) { return tx("readwrite", function (s) { return s["delete"](seq); }); }
    function waiting(list) {
      return list.some(function (it) { return it.state === "queued" || it.state === "sending"; });
    }

    function store(fields) {
      var it = { id: newKey(), user: cfg.user, enterprise: cfg.enterprise, state: "queued", message: "",
                 at: Date.now() };
      Object.keys(fields).forEach(function (k) { it[k] = fields[k]; });
      return tx("readwrite", function (s) { return s.add(it); }).then(function (seq) { it.seq = seq; return it; });
    }
    function add(fields) { return store(fields).then(refresh).then(sync); }

    // {ok, body} | {retry, message}: try again later | {refused, message}: the server said no.
    function post(url, key, body, json) {
      var headers = { "X-CSRF-Token": cfg.csrf, "Idempotency-Key": key, "Accept": "application/json",
                      "Accept-Language": cfg.lang };
      if (json) headers["Content-Type"] = "application/json";
      return fetch(url, { method: "POST", credentials: "same-origin", headers: headers, cache: "no-store",
                          body: json ? JSON.stringify(body) : body })
        .then(function (res) {
          if (res.ok) {
            return res.text().then(function (text) {
              var parsed = {};
              try { parsed = text ? JSON.parse(text) : {}; } catch (e) { parsed = {}; }
              return { ok: true, body: parsed };
            });
          }
          return res.json().catch(function () { return {}; }).then(function (b) {
            if (res.status === 401 || (b && b.code === "csrf_failed")) return { retry: true, message: T.signin };
            if (res.status >= 500 || res.status === 429 || res.status === 408) return { retry: true, message: "" };
            return { refused: true, message: messageOf(b, res.status) };
          });
        }, function () { return { retry: true, message: "" }; });
    }

    // `carried`: items sent by a sync that handed over to another (requested meanwhile), so
    // that onSent still hears of them when the last one finishes.
    var syncing = false, again = false, carried = 0;
    function sync() {
      if (syncing) { again = true; return Promise.resolve(); }
      syncing = true;
      var sent = 0;
      return items().then(function (list) {
        var held = {};
        var chain = Promise.resolve(false);
        list.forEach(function (it) {
          chain = chain.then(function (stop) {
            if (stop) return true;
            var key = opts.holdBy ? opts.holdBy(it) : null;
            var holds = key !== null && key !== undefined;
            if (it.state === "refused") { if (holds) held[key] = true; return false; }
            if (holds && held[key]) {
              if (it.state === "held") return false;
              it.state = "held";
              return put(it).then(function () { return false; });
            }
            if (navigator.onLine === false) return true;
            it.state = "sending";
            return put(it).then(refresh).then(function () { return opts.send(it, q); }).then(function (r) {
              if (r.ok) { sent += 1; return remove(it.seq).then(function () { return false; }); }
              if (r.retry) { it.state = "queued"; it.message = r.message; return put(it).then(function () { return true; }); }
              it.state = "refused"; it.message = r.message;
              if (holds) held[key] = true;
              return put(it).then(function () { return false; });
            });
          });
        });
        return chain;
      }).then(function () { return finish(sent); }, function () { return finish(sent); });
    }
    function finish(sent) {
      syncing = false;
      return refresh().then(function (list) {
        if (again) { again = false; carried += sent; return sync(); }
        sent += carried; carried = 0;
        if (sent && opts.onSent) opts.onSent(sent, list);
        return undefined;
      });
    }

    function line(it) {
      var d = opts.describe ? opts.describe(it) : {};
      var attrs = { "data-state": it.state, "data-key": it.id };
      Object.keys(d.attrs || {}).forEach(function (k) { attrs[k] = d.attrs[k]; });
      var li = el("li", attrs);
      if (d.blob) { var img = el("img", { alt: "" }); img.src = URL.createObjectURL(d.blob); li.appendChild(img); }
      li.appendChild(el("span", {}, d.text || ""));
      li.appendChild(el("span", { "class": "m-state" }, T[it.state] || it.state));
      if (it.message) li.appendChild(el("span", { "class": "m-msg" }, it.message));
      if (it.state === "refused") {
        var retry = el("button", { type: "button", "data-retry": "" }, T.retry);
        retry.addEventListener("click", function () { it.state = "queued"; it.message = ""; put(it).then(sync); });
        var drop = el("button", { type: "button", "data-discard": "" }, T.discard);
        drop.addEventListener("click", function () { remove(it.seq).then(sync); });
        li.appendChild(retry); li.appendChild(drop);
      }
      return li;
    }

    function refresh() {
      return items().then(function (list) {
        var box = document.getElementById("m-queue"), ol = document.getElementById("m-queue-items");
        var counter = document.getElementById("m-pending");
        var pending = list.filter(function (it) { return it.state !== "refused"; }).length;
        counter.textContent = (pending === 1 ? T.pendingOne : T.pendingOther).replace("{n}", String(pending));
        counter.dataset.count = String(pending);
        counter.hidden = pending === 0;
        box.hidden = list.length === 0;
        ol.querySelectorAll("img").forEach(function (img) { URL.revokeObjectURL(img.src); });
        ol.textContent = "";
        list.forEach(function (it) { ol.appendChild(line(it)); });
        if (opts.onRefresh) opts.onRefresh(list);
        return list;
      });
    }

    function onlineState() {
      var off = document.getElementById("m-offline");
      if (off) off.hidden = navigator.onLine !== false;
    }
    function start() {
      window.addEventListener("online", function () { onlineState(); sync(); });
      window.addEventListener("offline", onlineState);
      function ready() {
        onlineState();
        refresh().then(sync);
        window.setInterval(function () { if (navigator.onLine !== false) sync(); }, 15000);
      }
      if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
      else ready();
    }

    q.add = add; q.store = store; q.post = post; q.put = put; q.remove = remove; q.items = items;
    q.refresh = refresh; q.sync = sync; q.waiting = waiting; q.newKey = newKey; q.start = start;
    return q;
  }

  window.PlantGuardOfflineQueue = { create: create, newKey: newKey };
})();
