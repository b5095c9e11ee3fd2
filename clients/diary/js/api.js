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
  await kv.set("credential", {
    ...credential,
    deviceId: payload.deviceId ?? credential.deviceId,
    refreshToken: payload.refreshToken,
    subjectCode: payload.subjectCode ?? credential.subjectCode,
    site: payload.site ?? credential.site,
  });
  access = { token: payload.accessToken, expiresAt: Date.parse(payload.accessTokenExpiresAt) };
}

export async function credential() {
  return kv.get("credential");
}

let access = null; // the access token lives in memory only
let refreshing = null; // one refresh at a time: a rotated refresh token must not be sent twice

async function refresh() {
  const saved = await kv.get("credential");
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
      access = null; // expired: refresh once and try again
      continue;
    }
    if (response.status === 429 || response.status >= 500) throw new Transient(`HTTP ${response.status}`);
    if (!payload || payload.errors?.length) {
      // A masked internal error or an unavailable database: nothing was stored, so retrying is safe.
      throw new Transient(payload?.errors?.[0]?.message || `HTTP ${response.status}`);
    }
    return payload.data;
  }
  throw new SignedOut("REFRESH_TOKEN_INVALID");
}

export async function forget() {
  access = null;
}
