// Messages live in ../messages/<lang>.json; nothing the patient reads is written in code.
const SUPPORTED = ["en", "zh-CN"];
const STORAGE_KEY = "diary.language";
let messages = {};
let current = "en";

export function chooseLanguage() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved && SUPPORTED.includes(saved)) return saved;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    if (tag.toLowerCase().startsWith("zh")) return "zh-CN";
    if (tag.toLowerCase().startsWith("en")) return "en";
  }
  return "en";
}

export async function loadLanguage(lang) {
  const response = await fetch(`messages/${lang}.json`);
  messages = await response.json();
  current = lang;
  document.documentElement.lang = lang;
}

export function switchLanguage() {
  const next = current === "en" ? "zh-CN" : "en";
  localStorage.setItem(STORAGE_KEY, next);
  return loadLanguage(next);
}

export function language() {
  return current;
}

/** The message `key` with {placeholders} filled; the key itself when a message is missing. */
export function t(key, params = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}
