// The phone's own storage (IndexedDB): the device credential, the queue of entries waiting to be
// sent, and the patient's reports as last synced. IndexedDB survives closing the app, so an entry
// made offline is never lost.
const DB_NAME = "ptr-diary";
const DB_VERSION = 1;

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("kv");
      const queue = db.createObjectStore("queue", { keyPath: "clientReportId" });
      queue.createIndex("createdAt", "createdAt");
      db.createObjectStore("reports", { keyPath: "id" });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

let opened = null;
function db() {
  opened ??= open();
  return opened;
}

async function run(storeName, mode, work) {
  const database = await db();
  return new Promise((resolve, reject) => {
    const tx = database.transaction(storeName, mode);
    const store = tx.objectStore(storeName);
    let result;
    Promise.resolve(work(store)).then((value) => (result = value));
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

function req(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export const kv = {
  get: (key) => run("kv", "readonly", (s) => req(s.get(key))),
  set: (key, value) => run("kv", "readwrite", (s) => s.put(value, key)),
  delete: (key) => run("kv", "readwrite", (s) => s.delete(key)),
};

export const queue = {
  /** Entries in the order they were made (the order they must be sent in). */
  all: () => run("queue", "readonly", (s) => req(s.index("createdAt").getAll())),
  put: (entry) => run("queue", "readwrite", (s) => s.put(entry)),
  delete: (id) => run("queue", "readwrite", (s) => s.delete(id)),
};

export const reports = {
  all: () => run("reports", "readonly", (s) => req(s.getAll())),
  putMany: (rows) => run("reports", "readwrite", (s) => rows.forEach((row) => s.put(row))),
  clear: () => run("reports", "readwrite", (s) => s.clear()),
};

export async function clearAll() {
  await run("kv", "readwrite", (s) => s.clear());
  await run("reports", "readwrite", (s) => s.clear());
}
