// The outbox. An entry is stored on the phone first (with its clientReportId and the time it was
// made, with the phone's UTC offset), then sent in the order entries were made. The server's
// clientReportId makes a resend harmless: a duplicate acknowledgement counts as success.
// Network failures are retried with exponential backoff; a refusal for good (an InputError, say)
// keeps the entry and shows it to the patient: nothing is ever dropped silently.
import { graphql, Refused, SignedOut, Transient } from "./api.js";
import { queue, reports } from "./store.js";
import { localIso } from "./time.js";

export const REPORT_FIELDS = `id clientReportId kind localDate noticedAt receivedAt provisionalWhoGrade status
  redFlags symptoms { site }`;

const SUBMIT = `mutation Submit($input: SubmitBleedingReportInput!) {
  submitBleedingReport(input: $input) {
    __typename
    ... on BleedingReportAccepted {
      duplicate provisionalWhoGrade dayWhoGrade localDate redFlags callSiteNow alertRaised late
      report { ${REPORT_FIELDS} }
    }
    ... on InputError { problems { field code message } }
    ... on UserError { code message field }
  }
}`;

const BASE_DELAY_MS = 2_000;
const MAX_DELAY_MS = 5 * 60_000;

export async function enqueue(input) {
  const entry = {
    clientReportId: input.clientReportId,
    input,
    createdAt: Date.now(),
    state: "pending",
    attempts: 0,
    nextAttemptAt: 0,
  };
  await queue.put(entry);
  return entry;
}

let flushing = null;
const listeners = new Set();

/** Called with (entry, result) when the server acknowledges an entry. */
export function onAcknowledged(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Sends what is due, oldest first; resolves when done. Flushes run one after another, so an
 * entry added while one runs is sent by the next, and no entry is ever sent twice at once. */
export function flush({ force = false, subjectCode = undefined } = {}) {
  const next = (flushing || Promise.resolve()).catch(() => {}).then(() => sendDue(force, subjectCode));
  flushing = next.finally(() => {
    if (flushing === tail) flushing = null;
  });
  const tail = flushing;
  return next;
}

async function sendDue(force, subjectCode) {
  for (const entry of await queue.all()) {
    if (entry.state !== "pending") continue; // refused for good: kept and shown, not resent
    // Another patient's entry (the phone changed hands): kept, sent when they connect again.
    if (entry.input.subjectCode && entry.input.subjectCode !== subjectCode) continue;
    if (!force && entry.nextAttemptAt > Date.now()) return; // keep the order: wait for this one
    try {
      const result = await send(entry);
      await queue.delete(entry.clientReportId);
      await reports.putMany([result.report]);
      listeners.forEach((listener) => listener(entry, result));
    } catch (error) {
      if (error instanceof Refused) {
        await queue.put({ ...entry, state: "rejected", error: { code: error.code, detail: error.detail } });
        continue;
      }
      if (error instanceof SignedOut) throw error;
      const attempts = entry.attempts + 1;
      const delay = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (attempts - 1));
      await queue.put({ ...entry, attempts, nextAttemptAt: Date.now() + delay, lastError: String(error.message) });
      if (!(error instanceof Transient)) console.warn("diary: unexpected send failure", error);
      return;
    }
  }
}

async function send(entry) {
  const input = { ...entry.input, deviceSubmittedAt: localIso() };
  const data = await graphql(SUBMIT, { input });
  const result = data.submitBleedingReport;
  if (result.__typename === "BleedingReportAccepted") return result;
  const problem = result.problems?.[0];
  throw new Refused(problem?.code || result.code || "other", { field: problem?.field || result.field });
}

/** When the next retry is due (ms since epoch), or null when nothing is waiting. */
export async function nextRetryAt(subjectCode) {
  const pending = (await queue.all()).filter(
    (e) => e.state === "pending" && (!e.input.subjectCode || e.input.subjectCode === subjectCode),
  );
  return pending.length ? Math.min(...pending.map((e) => e.nextAttemptAt)) : null;
}

export async function discard(clientReportId) {
  await queue.delete(clientReportId);
}
