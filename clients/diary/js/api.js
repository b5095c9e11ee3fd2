// Talking to the study's server: activation, refreshing the short-lived access token with the
// device's refresh token, and GraphQL. Every failure is classified so the queue knows whether to
// retry (network, server busy) or to stop and tell the patient (a refusal, a revoked phone).
import { kv } from "./store.js";

const API = new URL("api/", document.baseURI).href; // /diary/api/
const GRAPHQL = new URL("../graphql", document.baseURI).href;

/** The server could not be reached or answered with a temporary failure: try again later. */
export class Transient extends Error {}
/** The phone's credential is no longer valid: it must be activated again. */
export class SignedOut extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}
/** The server refused a request for good, with a code the patient can be told about. */
export class Refused extends Error {
  constructor(code, detail = {}) {
    super(code);
    this.code = code;
    this.detail = detail;
  }
}

async function postJson(url, body, headers = {}) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new Transient(String(error));
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  return { response, payload };
}

function retryAfter(response) {
  return Number.parseInt(response.headers.get("Retry-After") || "60", 10);
}

export async function activate(code, deviceLabel) {
  const { response, payload } = await postJson(API + "activate", { code, deviceLabel });
  if (response.ok && payload) {
    await saveCredential(payload);
    return payload;
  }
  if (response.status >= 500) throw new Transient(`HTTP ${response.status}`);
  const errorCode = payload?.error?.code || "BAD_REQUEST";
  throw new Refused(errorCode, { seconds: retryAfter(response) });
}

async function saveCredential(payload) {
  const credential = (await kv.get("credential")) || {};
  const expiresAt = Date.parse(payload.accessTokenExpiresAt);
  await kv.set("credential", {
    ...credential,
    deviceId: payload.deviceId ?? credential.deviceId,
    refreshToken: payload.refreshToken,
    // Kept so other tabs can use it instead of refreshing again (it lives 15 minutes).
    accessToken: payload.accessToken,
    accessTokenExpiresAt: expiresAt,
    subjectCode: payload.subjectCode ?? credential.subjectCode,
    site: payload.site ?? credential.site,
  });
  access = { token: payload.accessToken, expiresAt };
}

export async function credential() {
  return kv.get("credential");
}

let access = null; // the access token lives in memory only
let refreshing = null; // one refresh at a time: a rotated refresh token must not be sent twice

/** Refreshes under a Web Lock where the browser has them: two tabs of the app must not both
 * present the same refresh token (the second would get a token the first then replaces). Inside
 * the lock the stored credential is read again, so a tab that waited uses the fresh token. */
function refresh() {
  return navigator.locks ? navigator.locks.request("ptr-diary-refresh", refreshNow) : refreshNow();
}

async function refreshNow() {
  const saved = await kv.get("credential");
  if (saved?.accessToken && saved.accessTokenExpiresAt - Date.now() > 30_000) {
    access = { token: saved.accessToken, expiresAt: saved.accessTokenExpiresAt }; // another tab refreshed
    return;
  }
  if (!saved?.refreshToken) throw new SignedOut("REFRESH_TOKEN_INVALID");
  const { response, payload } = await postJson(API + "token", { refreshToken: saved.refreshToken });
  if (response.ok && payload) {
    await saveCredential(payload);
    return;
  }
  if (response.status === 401) throw new SignedOut(payload?.error?.code || "REFRESH_TOKEN_INVALID");
  throw new Transient(`HTTP ${response.status}`);
}

async function accessToken() {
  if (!access || access.expiresAt - Date.now() < 30_000) {
    refreshing ??= refresh().finally(() => (refreshing = null));
    await refreshing;
  }
  return access.token;
}

/** A GraphQL operation with the device's access token; returns `data`. */
export async function graphql(query, variables = {}) {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const token = await accessToken();
    const { response, payload } = await postJson(GRAPHQL, { query, variables }, { Authorization: `Bearer ${token}` });
    if (response.status === 401) {
      const code = payload?.errors?.[0]?.extensions?.code;
      if (code === "DEVICE_REVOKED") throw new SignedOut(code);
      await dropAccess(); // expired or refused: refresh once and try again
      continue;
    }
    if (response.status === 429 || response.status >= 500 || !payload) throw new Transient(`HTTP ${response.status}`);
    const errors = payload.errors || [];
    if (errors.length && errors.every((error) => !error.path)) {
      // A request error (the document or a variable refused before anything ran: a value the
      // server's scalars reject, say): sending it again cannot help. The entry is kept and shown.
      throw new Refused(errors[0].extensions?.code || "INVALID_FORMAT");
    }
    if (errors.length) {
      // An error while executing (masked internal error, database unavailable): the mutation's
      // transaction rolled back, so sending it again is safe and may succeed.
      throw new Transient(errors[0].message);
    }
    return payload.data;
  }
  throw new SignedOut("REFRESH_TOKEN_INVALID");
}

async function dropAccess() {
  access = null;
  const saved = await kv.get("credential");
  if (saved?.accessToken) await kv.set("credential", { ...saved, accessToken: null, accessTokenExpiresAt: 0 });
}

export async function forget() {
  access = null;
}
