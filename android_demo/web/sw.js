// Offline once loaded: every same-origin GET (app, npm runtimes, wasm, bundle files) is answered from the cache when
// the network is gone, and refreshed from the network when it is there.
const CACHE = "animetool-demo-v1";
const SHELL = ["./", "index.html", "app.js", "manifest.webmanifest", "icon-192.png", "icon-512.png",
  "lib/animator.js", "lib/blocks.js", "lib/character.js", "lib/figure.js", "lib/image.js", "lib/plate.js", "lib/pose.js", "lib/runtime.js", "lib/track.js"];

self.addEventListener("install", e => e.waitUntil(caches.open(CACHE).then(c => c.addAll(SHELL)).then(() => self.skipWaiting())));
self.addEventListener("activate", e => e.waitUntil(self.clients.claim()));
self.addEventListener("fetch", e => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== location.origin) return;
  e.respondWith(fetch(e.request).then(res => {
    if (res.ok) { const copy = res.clone(); caches.open(CACHE).then(c => c.put(e.request, copy)); }
    return res;
  }).catch(() => caches.match(e.request, {ignoreSearch: true}).then(hit => hit || Response.error())));
});
