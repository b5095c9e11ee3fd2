// Offline support: the app's own files are kept in a cache so the diary opens without a network.
// API calls (/diary/api/, /graphql) always go to the network; the app queues entries itself.
const VERSION = "diary-v1";
const SHELL = [
  "./",
  "index.html",
  "app.css",
  "manifest.webmanifest",
  "js/app.js",
  "js/api.js",
  "js/i18n.js",
  "js/queue.js",
  "js/store.js",
  "js/time.js",
  "messages/en.json",
  "messages/zh-CN.json",
  "icons/icon.svg",
  "icons/icon-192.png",
  "icons/icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(VERSION)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name !== VERSION).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

// Stale-while-revalidate for the shell: answer from the cache at once, refresh it in the
// background, so a new release reaches the phone on the next start.
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const scope = new URL(self.registration.scope);
  if (event.request.method !== "GET" || url.origin !== scope.origin) return;
  if (!url.pathname.startsWith(scope.pathname) || url.pathname.startsWith(scope.pathname + "api/")) return;
  event.respondWith(
    caches.open(VERSION).then(async (cache) => {
      const key = url.pathname === scope.pathname ? "./" : event.request;
      const cached = await cache.match(key, { ignoreSearch: true, ignoreVary: true });
      const fresh = fetch(event.request)
        .then((response) => {
          if (response.ok) cache.put(key, response.clone());
          return response;
        })
        .catch(() => cached);
      return cached || fresh;
    }),
  );
});
