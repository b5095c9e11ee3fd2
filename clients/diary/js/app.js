// The patients' bleeding diary: screens, and what each button does. Plain modules, no build step.
import { activate, credential, forget, graphql, Refused, SignedOut, Transient } from "./api.js";
import { chooseLanguage, language, loadLanguage, switchLanguage, t } from "./i18n.js";
import { discard, enqueue, flush, nextRetryAt, onAcknowledged, REPORT_FIELDS } from "./queue.js";
import { clearAll, kv, queue, reports } from "./store.js";
import { inputValue, localIso, uuid4 } from "./time.js";

const SITES = ["NOSE", "GUMS_MOUTH", "SKIN_SPOTS", "BRUISE", "URINE", "STOOL", "VOMIT", "SPUTUM", "VAGINAL", "EYE"];
const MINUTE_SITES = new Set(["NOSE", "GUMS_MOUTH", "URINE", "STOOL", "VOMIT", "SPUTUM", "VAGINAL", "EYE"]);
const SIGNS = ["suddenSevereHeadache", "newConfusion", "visionChange", "newWeakness"];
const main = document.getElementById("main");
const status = document.getElementById("status");

const escape = (value) =>
  String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

// --- screens ----------------------------------------------------------------------------------

let screen = { name: "home" };

async function show(name, params = {}) {
  screen = { name, ...params };
  await render();
  const heading = main.querySelector("h1");
  heading?.focus(); // screen readers announce the new screen
}

async function render() {
  document.title = t("app.name");
  document.getElementById("app-name").textContent = t("app.name");
  const toggle = document.getElementById("language");
  toggle.textContent = t("app.language");
  toggle.setAttribute("aria-label", t("app.languageLabel")); // contains the visible text
  document.getElementById("skip").textContent = t("app.skip");
  document.body.classList.toggle("alarm", screen.name === "callnow");
  main.innerHTML = await SCREENS[screen.name](screen);
  await renderStatus();
}

const SCREENS = {
  async activate({ message, code = "", error }) {
    return `
      <h1 tabindex="-1">${t("activate.title")}</h1>
      ${message ? `<p class="notice" role="status">${escape(message)}</p>` : ""}
      <p>${t("activate.intro")}</p>
      <form id="activate-form" novalidate>
        <label for="code">${t("activate.codeLabel")}</label>
        <p class="hint" id="code-hint">${t("activate.codeHint")}</p>
        <input id="code" name="code" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false"
               aria-describedby="code-hint${error ? " code-error" : ""}" ${error ? 'aria-invalid="true"' : ""}
               value="${escape(code)}" required maxlength="20">
        ${error ? `<p class="error" id="code-error" role="alert">${escape(error)}</p>` : ""}
        <button type="submit" class="primary">${t("activate.submit")}</button>
      </form>`;
  },

  async home({ message }) {
    const saved = await credential();
    const phone = saved?.site?.phone;
    return `
      <h1 tabindex="-1">${t("home.title")}</h1>
      ${message ? `<p class="notice" role="status">${escape(message)}</p>` : ""}
      <p class="question">${t("home.question")}</p>
      <button id="no-bleeding" class="primary big" aria-describedby="no-bleeding-hint">${t("home.noBleeding")}</button>
      <p class="hint" id="no-bleeding-hint">${t("home.noBleedingHint")}</p>
      <button id="report" class="secondary big" aria-describedby="report-hint">${t("home.report")}</button>
      <p class="hint" id="report-hint">${t("home.reportHint")}</p>
      <nav class="links" aria-label="${t("app.name")}">
        <button id="history" class="link">${t("home.history")}</button>
        ${phone ? `<a class="link" href="tel:${escape(phone)}">${t("home.callSite")}</a>` : ""}
        <button id="settings" class="link">${t("home.settings")}</button>
      </nav>`;
  },

  async report({ draftId }) {
    const sites = SITES.map(
      (site) => `
        <div class="choice">
          <input type="checkbox" id="site-${site}" name="site" value="${site}">
          <label for="site-${site}">${t(`report.site.${site}`)}</label>
        </div>
        <div class="details" id="details-${site}" hidden>${siteDetails(site)}</div>`,
    ).join("");
    const signs = SIGNS.map(
      (sign) => `
        <div class="choice">
          <input type="checkbox" id="sign-${sign}" name="sign" value="${sign}">
          <label for="sign-${sign}">${t(`report.sign.${sign}`)}</label>
        </div>`,
    ).join("");
    const scale = (kind, id) => `
      <select id="${id}" name="${id}">
        <option value="">${t("report.pro.notAnswered")}</option>
        ${[0, 1, 2, 3, 4].map((n) => `<option value="${n}">${t(`report.pro.${kind}.${n}`)}</option>`).join("")}
      </select>`;
    return `
      <h1 tabindex="-1">${t("report.title")}</h1>
      <form id="report-form" novalidate data-draft-id="${escape(draftId)}">
        <fieldset><legend>${t("report.where")}</legend>${sites}</fieldset>
        <fieldset><legend>${t("report.signs")}</legend>${signs}</fieldset>
        <label for="noticed-at">${t("report.noticedAt")}</label>
        <input type="datetime-local" id="noticed-at" name="noticedAt" value="${inputValue()}" max="${inputValue()}">
        <details>
          <summary>${t("report.optional")}</summary>
          <fieldset><legend>${t("report.pro.bruising")}</legend>
            ${radio("proBruising", "yes", t("report.yes"))}${radio("proBruising", "no", t("report.no"))}
          </fieldset>
          <label for="proFrequency">${t("report.pro.frequency")}</label>${scale("freq", "proFrequency")}
          <label for="proSeverity">${t("report.pro.severity")}</label>${scale("sev", "proSeverity")}
          <label for="note">${t("report.note")}</label>
          <textarea id="note" name="note" rows="3" maxlength="2000"></textarea>
        </details>
        <button type="submit" class="primary big">${t("report.send")}</button>
        <button type="button" id="back" class="link">${t("report.cancel")}</button>
      </form>`;
  },

  async result({ result, checkIn, saved }) {
    if (saved) {
      return `
        <h1 tabindex="-1">${t("result.savedTitle")}</h1>
        <p role="status">${t(checkIn ? "home.checkedIn" : "result.savedBody")}</p>
        ${checkIn ? `<p>${t("result.savedBody")}</p>` : ""}
        <button id="done" class="primary big">${t("result.done")}</button>`;
    }
    const grade = (g, key, params = {}) => (g == null ? t(`${key}None`, params) : t(key, { grade: g, ...params }));
    const today = localIso().slice(0, 10);
    const day =
      result.localDate && result.localDate !== today
        ? grade(result.dayWhoGrade, "result.dayOn", { date: new Date(`${result.localDate}T12:00`).toLocaleDateString(language()) })
        : grade(result.dayWhoGrade, "result.day");
    const advice = checkIn
      ? "result.adviceCheckIn"
      : result.callSiteNow
        ? "result.adviceCall"
        : (result.dayWhoGrade ?? 0) >= 2
          ? "result.adviceGrade2"
          : "result.adviceThanks";
    return `
      <h1 tabindex="-1">${t("result.sentTitle")}</h1>
      <div role="status">
        ${checkIn ? `<p>${t("home.checkedIn")}</p>` : `<p class="grade">${grade(result.provisionalWhoGrade, "result.thisReport")}</p>`}
        <p class="grade">${day}</p>
        <p>${t(advice)}</p>
        ${result.late ? `<p>${t("result.late")}</p>` : ""}
      </div>
      ${checkIn ? "" : `<p class="hint">${t("result.gradeExplain")}</p>`}
      <button id="done" class="primary big">${t("result.done")}</button>`;
  },

  async callnow({ unsent }) {
    const saved = await credential();
    const phone = saved?.site?.phone;
    return `
      <h1 tabindex="-1">${t("callnow.title")}</h1>
      <p class="alarm-text">${t("callnow.body")}</p>
      ${unsent ? `<p class="alarm-text">${t("callnow.saved")}</p>` : ""}
      ${
        phone
          ? `<a id="call" class="call big" href="tel:${escape(phone)}">${t("callnow.call", { phone: `<span class="nowrap">${escape(phone)}</span>` })}</a>`
          : `<p class="alarm-text">${t("callnow.noPhone")}</p>`
      }
      <p class="alarm-text">${t("callnow.emergency")}</p>
      <button id="done" class="secondary big">${t("callnow.back")}</button>`;
  },

  async history({ message }) {
    const waiting = await ownEntries();
    const synced = (await reports.all()).sort((a, b) => (b.noticedAt > a.noticedAt ? 1 : -1));
    const items = [
      ...waiting.map((entry) => historyItem(entry.input, entry.state === "rejected" ? "REJECTED" : "PENDING", entry)),
      ...synced.map((report) => historyItem(report, report.status || "RECEIVED")),
    ];
    return `
      <h1 tabindex="-1">${t("history.title")}</h1>
      <p role="status" id="history-status">${message ? escape(message) : ""}</p>
      ${items.length ? `<ul class="history">${items.join("")}</ul>` : `<p>${t("history.empty")}</p>`}
      <button id="sync" class="secondary">${t("history.refresh")}</button>
      <button id="done" class="link">${t("history.back")}</button>`;
  },

  async settings() {
    const saved = await credential();
    return `
      <h1 tabindex="-1">${t("settings.title")}</h1>
      <p>${t("settings.subject", { code: escape(saved?.subjectCode) })}</p>
      ${saved?.site?.name ? `<p>${t("settings.site", { name: escape(saved.site.name) })}</p>` : ""}
      <p id="settings-message" role="status"></p>
      <button id="sign-out" class="secondary">${t("settings.signOut")}</button>
      <button id="done" class="link">${t("settings.back")}</button>`;
  },
};

function radio(name, value, label) {
  return `<div class="choice"><input type="radio" id="${name}-${value}" name="${name}" value="${value}">
          <label for="${name}-${value}">${label}</label></div>`;
}

function siteDetails(site) {
  const parts = [];
  if (MINUTE_SITES.has(site)) {
    parts.push(`<label for="minutes-${site}">${t("report.minutes")}</label>
      <input type="number" inputmode="numeric" min="0" max="1440" id="minutes-${site}" name="minutes-${site}">`);
    parts.push(`<fieldset><legend>${t("report.stopped")}</legend>
      ${radio(`stopped-${site}`, "yes", t("report.yes"))}${radio(`stopped-${site}`, "no", t("report.no"))}</fieldset>`);
  }
  if (site === "BRUISE") {
    parts.push(`<label for="size-BRUISE">${t("report.sizeCm")}</label>
      <input type="number" inputmode="decimal" min="0" max="100" step="0.5" id="size-BRUISE" name="size-BRUISE">`);
    parts.push(checkbox("deep-BRUISE", t("report.deepSwelling")));
  }
  if (site === "STOOL") parts.push(checkbox("black-STOOL", t("report.blackStool")));
  if (site === "VAGINAL") parts.push(checkbox("beyond-VAGINAL", t("report.beyondSpotting")));
  parts.push(checkbox(`help-${site}`, t("report.medicalHelp")));
  return parts.join("");
}

function checkbox(id, label) {
  return `<div class="choice"><input type="checkbox" id="${id}" name="${id}"><label for="${id}">${label}</label></div>`;
}

function historyItem(report, state, entry) {
  const when = new Date(report.noticedAt).toLocaleString(language());
  const sites = (report.symptoms || []).map((s) => t(`report.site.${s.site}`)).join(", ");
  const what =
    report.kind === "NO_BLEEDING" ? t("history.noBleeding") : sites ? t("history.bleeding", { sites }) : t("history.signsOnly");
  const grade = report.provisionalWhoGrade != null ? ` · ${t("history.grade", { grade: report.provisionalWhoGrade })}` : "";
  const rejected =
    state === "REJECTED"
      ? `<p class="error">${t("history.rejectedHelp", { reason: problemText(entry.error?.code) })}</p>
         <button class="link remove" data-id="${escape(entry.clientReportId)}">${t("history.remove")}</button>`
      : "";
  return `<li class="report ${state.toLowerCase()}" data-client-report-id="${escape(report.clientReportId)}">
      <p><strong>${escape(when)}</strong></p><p>${escape(what)}${escape(grade)}</p>
      <p class="badge">${t(`history.status.${state}`)}</p>${rejected}</li>`;
}

function problemText(code) {
  const key = `problem.${code}`;
  const text = t(key);
  return text === key ? t("problem.other", { code }) : text;
}

// --- what the buttons do ----------------------------------------------------------------------

main.addEventListener("change", (event) => {
  const target = event.target;
  if (target.name === "site") document.getElementById(`details-${target.value}`).hidden = !target.checked;
});

main.addEventListener("keydown", (event) => {
  // Android's "Go" key submits a form from any field: a report must be sent with its button only.
  if (event.key === "Enter" && event.target.form?.id === "report-form" && event.target.tagName === "INPUT") {
    event.preventDefault();
  }
});

main.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (event.target.id === "activate-form") await onActivate(event.target);
  if (event.target.id === "report-form") await onReport(event.target);
});

main.addEventListener("click", async (event) => {
  const target = event.target.closest("button");
  if (!target) return;
  const actions = {
    "no-bleeding": onNoBleeding,
    report: () => show("report", { draftId: uuid4() }),
    history: () => show("history").then(syncHistory),
    settings: () => show("settings"),
    back: () => show("home"),
    done: () => show("home"),
    sync: syncHistory,
    "sign-out": onSignOut,
  };
  if (target.classList.contains("remove")) {
    await discard(target.dataset.id);
    return show("history");
  }
  await actions[target.id]?.();
});

document.getElementById("language").addEventListener("click", async () => {
  await switchLanguage();
  await render();
});

async function onActivate(form) {
  const code = form.code.value.trim();
  if (!code) return show("activate", { error: t("activate.codeMissing") });
  const button = form.querySelector("button");
  button.disabled = true;
  button.textContent = t("activate.working");
  try {
    const previous = await kv.get("lastSubjectCode");
    const connected = await activate(code, navigator.userAgent.slice(0, 80));
    history.replaceState(null, "", location.pathname); // the code is used: do not keep it in the URL
    if (previous && previous !== connected.subjectCode) {
      // Another patient now uses this phone: they must not see the previous patient's reports.
      // (The previous patient's unsent entries stay stored, hidden and unsent, until that
      // patient connects again: nothing is lost, nothing is filed under the wrong person.)
      await reports.clear();
      await kv.delete("syncedAt");
    }
    await kv.set("lastSubjectCode", connected.subjectCode);
    await refreshSite();
    await show("home");
    await sendQueue();
  } catch (error) {
    const message =
      error instanceof Refused
        ? t(`error.${error.code}`, error.detail)
        : navigator.onLine
          ? t("error.network")
          : t("activate.offline");
    await show("activate", { code, error: message });
  }
}

function reportInput(form) {
  const symptoms = [];
  for (const box of form.querySelectorAll('input[name="site"]:checked')) {
    const site = box.value;
    const symptom = { site };
    const minutes = form[`minutes-${site}`]?.value;
    if (minutes) symptom.durationMinutes = Number(minutes);
    const stopped = form.querySelector(`input[name="stopped-${site}"]:checked`)?.value;
    if (stopped) symptom.stopped = stopped === "yes";
    const size = form[`size-${site}`]?.value;
    if (size) symptom.sizeCm = Number(size);
    symptom.medicalHelpNeeded = form[`help-${site}`].checked;
    if (site === "BRUISE") symptom.deepSwelling = form["deep-BRUISE"].checked;
    if (site === "STOOL") symptom.blackOrTarry = form["black-STOOL"].checked;
    if (site === "VAGINAL") symptom.beyondSpotting = form["beyond-VAGINAL"].checked;
    symptoms.push(symptom);
  }
  const signs = Object.fromEntries(SIGNS.map((s) => [s, form[`sign-${s}`].checked]));
  const now = new Date();
  const noticed = form.noticedAt.value ? new Date(form.noticedAt.value) : now;
  const input = {
    clientReportId: uuid4(),
    kind: "SYMPTOMS",
    noticedAt: localIso(noticed),
    deviceEnteredAt: localIso(now),
    symptoms,
    ...signs,
  };
  const bruising = form.querySelector('input[name="proBruising"]:checked')?.value;
  if (bruising) input.proCtcaeBruising = bruising === "yes";
  if (form.proFrequency.value) input.proCtcaeNosebleedFrequency = Number(form.proFrequency.value);
  if (form.proSeverity.value) input.proCtcaeNosebleedSeverity = Number(form.proSeverity.value);
  if (form.note.value.trim()) input.note = form.note.value.trim();
  return { input, noticed, now };
}

function checkReport({ input, noticed, now }) {
  if (!input.symptoms.length && !SIGNS.some((s) => input[s])) return t("report.needSomething");
  for (const s of input.symptoms) {
    if (s.durationMinutes != null && !(Number.isInteger(s.durationMinutes) && s.durationMinutes >= 0 && s.durationMinutes <= 1440))
      return t("report.minutesInvalid");
    if (s.sizeCm != null && !(s.sizeCm >= 0 && s.sizeCm <= 100)) return t("report.sizeInvalid");
  }
  if (noticed.getTime() > now.getTime() + 60_000) return t("report.futureTime");
  // A mistyped year (0999, 1926): the diary covers the trial, not decades.
  if (Number.isNaN(noticed.getTime()) || now.getTime() - noticed.getTime() > 366 * 86_400_000) return t("report.tooOld");
  return null;
}

async function onReport(form) {
  if (busy) return; // a double tap sends once
  const entry = reportInput(form);
  const problem = checkReport(entry);
  if (problem) {
    form.querySelector("#form-error")?.remove();
    form.insertAdjacentHTML("afterbegin", `<p class="error" role="alert" id="form-error">${escape(problem)}</p>`);
    form.querySelector("#form-error").scrollIntoView();
    return;
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  button.textContent = t("report.sending");
  await submit({ ...entry.input, clientReportId: form.dataset.draftId }, false);
}

async function onNoBleeding() {
  if (busy) return;
  const now = localIso();
  await submit({ clientReportId: uuid4(), kind: "NO_BLEEDING", noticedAt: now, deviceEnteredAt: now, symptoms: [] }, true);
}

/** The red flags DOMAIN.md names, as far as one entry shows them: the phone knows them before
 * (and without) the server, so "call your site now" never waits for a network. The server's
 * answer adds what only it can know (minutes added across the day). */
function redFlagsOf(input) {
  const symptoms = input.symptoms || [];
  return (
    SIGNS.some((sign) => input[sign]) ||
    symptoms.some(
      (s) =>
        s.stopped === false ||
        (s.durationMinutes ?? 0) > 60 ||
        s.site === "VOMIT" ||
        (s.site === "STOOL" && s.blackOrTarry),
    )
  );
}

let busy = false;

/** Stores the entry on the phone, then tries to send it; shows "sent" only on the server's answer. */
async function submit(input, checkIn) {
  busy = true;
  try {
    // The subject travels with the entry: if this phone is later connected to someone else, the
    // server refuses the entry (kept and shown) instead of filing it under the wrong patient.
    await enqueue({ ...input, subjectCode: (await credential())?.subjectCode });
    if (!(await sendQueue())) return;
    const result = acknowledgements.get(input.clientReportId);
    if (result?.callSiteNow || result?.redFlags?.length || (!result && redFlagsOf(input))) {
      callNowShown.add(input.clientReportId);
      return show("callnow", { unsent: !result });
    }
    if (result) return show("result", { result, checkIn });
    const waiting = (await queue.all()).find((entry) => entry.clientReportId === input.clientReportId);
    if (waiting?.state === "rejected") return show("history");
    return show("result", { saved: true, checkIn });
  } finally {
    busy = false;
  }
}

const acknowledgements = new Map(); // clientReportId -> the server's answer, this session
const callNowShown = new Set(); // entries whose call-now screen the patient has already seen
onAcknowledged((entry, result) => {
  acknowledgements.set(entry.clientReportId, result);
  // An entry sent in the background (made offline) whose answer says "call now": say it now,
  // unless the patient already saw that screen for it.
  if ((result.callSiteNow || result.redFlags?.length) && !busy && !callNowShown.has(entry.clientReportId)) {
    callNowShown.add(entry.clientReportId);
    show("callnow", { unsent: false });
  }
});

async function onSignOut() {
  const pending = (await queue.all()).length;
  const message = document.getElementById("settings-message");
  if (pending) {
    message.textContent = t("settings.signOutBlocked");
    return;
  }
  if (!confirm(t("settings.signOutConfirm"))) return;
  await clearAll();
  await forget();
  await show("activate", { message: t("activate.signedOut") });
}

// --- sending and syncing ----------------------------------------------------------------------

async function signedOut(code) {
  const wasSignedIn = Boolean(await credential());
  await kv.delete("credential");
  await forget();
  if (!wasSignedIn && screen.name === "activate") return; // already told, with the first reason
  await show("activate", { message: t(code === "DEVICE_REVOKED" ? "activate.revoked" : "activate.signedOut") });
}

/** Sends what waits now; false when the phone turned out to be signed out (revoked). */
async function sendQueue() {
  try {
    await flush({ force: true, subjectCode: await currentSubject() });
  } catch (error) {
    if (error instanceof SignedOut) {
      await signedOut(error.code);
      return false;
    }
    throw error;
  }
  await renderStatus();
  scheduleRetry();
  return true;
}

let retryTimer = null;
async function scheduleRetry() {
  clearTimeout(retryTimer);
  const due = await nextRetryAt(await currentSubject());
  if (due == null) return;
  retryTimer = setTimeout(async () => {
    try {
      await flush({ subjectCode: await currentSubject() });
    } catch (error) {
      if (error instanceof SignedOut) return signedOut(error.code);
    }
    await renderStatus();
    if (screen.name === "history") await render();
    scheduleRetry();
  }, Math.max(1_000, due - Date.now()));
}

const SYNC = `query Sync($since: DateTime, $after: String) {
  myBleedingReports(changedSince: $since, after: $after, first: 100) {
    syncedAt
    pageInfo { hasNextPage endCursor }
    edges { node { ${REPORT_FIELDS} } }
  }
}`;

/** Fetches reports changed since the last sync (new ones and ones whose review status changed). */
async function syncHistory() {
  try {
    const since = await kv.get("syncedAt");
    let after = null;
    let syncedAt = null;
    for (;;) {
      const page = (await graphql(SYNC, { since: since || null, after })).myBleedingReports;
      await reports.putMany(page.edges.map((edge) => edge.node));
      syncedAt ??= page.syncedAt;
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    await kv.set("syncedAt", syncedAt);
    if (screen.name === "history") await show("history", { message: t("history.updated") });
  } catch (error) {
    if (error instanceof SignedOut) return signedOut(error.code);
    if (screen.name === "history") await show("history", { message: t(navigator.onLine ? "error.network" : "status.offline") });
  }
}

async function refreshSite() {
  const saved = await credential();
  try {
    const data = await graphql(`query Site($code: String!) { subject(code: $code) { site { code name phone } } }`, {
      code: saved.subjectCode,
    });
    if (data.subject?.site) await kv.set("credential", { ...(await credential()), site: data.subject.site });
  } catch (error) {
    if (error instanceof SignedOut) return signedOut(error.code);
    if (!(error instanceof Transient)) console.warn("diary: could not refresh the site's details", error);
  }
}

async function currentSubject() {
  return (await credential())?.subjectCode;
}

/** The queue's entries of the patient this phone is connected to now. */
async function ownEntries() {
  const subject = await currentSubject();
  return (await queue.all()).filter((entry) => !entry.input.subjectCode || entry.input.subjectCode === subject);
}

async function renderStatus() {
  const entries = await ownEntries();
  const waiting = entries.filter((e) => e.state === "pending").length;
  const refused = entries.length - waiting;
  const parts = [navigator.onLine ? t("status.online") : t("status.offline")];
  parts.push(waiting === 0 ? t("status.allSent") : waiting === 1 ? t("status.waitingOne") : t("status.waiting", { count: waiting }));
  if (refused) parts.push(t("status.attention", { count: refused }));
  status.textContent = parts.join(" · ");
  status.classList.toggle("offline", !navigator.onLine || waiting > 0 || refused > 0);
}

window.addEventListener("online", () => sendQueue());
window.addEventListener("offline", () => renderStatus());

// --- start ------------------------------------------------------------------------------------

async function start() {
  await loadLanguage(chooseLanguage());
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js").catch((error) => console.warn("diary: no offline support", error));
  }
  const code = activationCodeInUrl();
  let saved;
  try {
    saved = await credential();
  } catch (error) {
    // No IndexedDB (some private windows): entries could not be kept, so none are taken.
    console.warn("diary: no storage", error);
    main.innerHTML = `<h1 tabindex="-1">${t("app.name")}</h1><p class="error" role="alert">${t("error.storage")}</p>`;
    return;
  }
  if (code || !saved?.refreshToken) {
    await show("activate", { code: code || "" });
    return;
  }
  await show("home");
  await sendQueue();
  if (navigator.onLine) refreshSite().then(() => screen.name === "home" && render());
}

function activationCodeInUrl() {
  return new URLSearchParams(location.hash.slice(1)).get("activate");
}

window.addEventListener("hashchange", () => {
  const code = activationCodeInUrl();
  if (code) show("activate", { code });
});

start();
