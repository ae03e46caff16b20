// PlantGuard service worker: the app shell from the cache, pages from the network with the
// last copy as a fallback, and an offline page when there is neither. API calls and form
// posts always go to the network (a stale answer there would mislead). The phone task app's
// pages (/m/) follow the page rule: the last copy opens offline, and its steps wait in the
// page's own queue (IndexedDB), never in this worker.
const CACHE = "plantguard-v1";
const PAGES = "plantguard-pages"; // signed-in pages; emptied at sign-in/out so no one else reads them
const SHELL = ["/offline", "/static/app.css", "/static/app.js", "/static/vendor/htmx-2.0.11.min.js",
               "/static/icons/icon-192.png", "/manifest.webmanifest", "/static/mobile.css",
               "/static/offline-queue.js", "/static/mobile.js",
               "/static/permit-mobile.css", "/static/permit-mobile.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE && k !== PAGES).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  if (url.pathname.startsWith("/static/")) {
    // Asset URLs carry a content hash (?v=...), so a cached copy is never stale. Offline, an
    // asset not yet cached under this hash falls back to any copy of it (the shell above).
    event.respondWith(caches.match(req).then((hit) => hit || fetch(req).then((res) => {
      if (res.ok) { const copy = res.clone(); caches.open(CACHE).then((c) => c.put(req, copy)); }
      return res;
    }).catch((err) => caches.match(req, { ignoreSearch: true }).then((any) => any || Promise.reject(err)))));
    return;
  }
  if (req.mode === "navigate") {
    event.respondWith(fetch(req).then((res) => {
      if (res.ok && !res.redirected) { const copy = res.clone(); caches.open(PAGES).then((c) => c.put(req, copy)); }
      return res;
    }).catch(() => caches.match(req).then((hit) => hit || caches.match("/offline"))));
  }
});
