// Times as the server wants them: ISO 8601 with the phone's own UTC offset (kept by the server,
// which grades the patient's local calendar day from it).
const pad = (n, width = 2) => String(Math.trunc(Math.abs(n))).padStart(width, "0");

export function localIso(date = new Date()) {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  return (
    `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `${sign}${pad(offset / 60)}:${pad(offset % 60)}`
  );
}

/** The value of an <input type="datetime-local"> for `date`, in the phone's time. */
export function inputValue(date = new Date()) {
  return localIso(date).slice(0, 16);
}

/** A UUID v4 for clientReportId (crypto.randomUUID needs a secure context; this does not). */
export function uuid4() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
