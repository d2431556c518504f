//# allFunctionsCalledOnLoad
// The page's languages: which one the reader gets, its message table, and locale formatting.
// Every visible string is in messages/<language>.json; this module holds none of its own.
"use strict";

export const LANGUAGES = ["en", "zh-Hans", "ja", "pt-BR"];
const dash = "–";

// The first supported language the reader prefers: exact tag, else same base language.
export function pickLanguage(preferred) {
  const lowered = LANGUAGES.map((code) => code.toLowerCase());
  for (const tag of preferred) {
    const exact = lowered.indexOf(tag.toLowerCase());
    if (exact !== -1) return LANGUAGES[exact];
    const base = tag.toLowerCase().split("-")[0];
    const sameBase = lowered.findIndex((code) => code.split("-")[0] === base);
    if (sameBase !== -1) return LANGUAGES[sameBase];
  }
  return LANGUAGES[0];
}

// A language's own name, as the browser spells it in that language ("日本語").
export function languageName(code) {
  const name = new Intl.DisplayNames([code], { type: "language" }).of(code) ?? code;
  return name.charAt(0).toLocaleUpperCase(code) + name.slice(1);
}

const isNum = (v) => typeof v === "number" && Number.isFinite(v);

const FORMATS = {
  whole: [Intl.NumberFormat, { maximumFractionDigits: 0 }],
  tenth: [Intl.NumberFormat, { minimumFractionDigits: 1, maximumFractionDigits: 1 }],
  hundredth: [Intl.NumberFormat, { minimumFractionDigits: 2, maximumFractionDigits: 2 }],
  small: [Intl.NumberFormat, { maximumSignificantDigits: 3 }],
  percent: [Intl.NumberFormat, { style: "percent", maximumFractionDigits: 0 }],
  celsius: [Intl.NumberFormat, { style: "unit", unit: "celsius", maximumFractionDigits: 0 }],
  seconds: [Intl.NumberFormat, { style: "unit", unit: "second", unitDisplay: "short", maximumFractionDigits: 0 }],
  minutes: [Intl.NumberFormat, { style: "unit", unit: "minute", unitDisplay: "short", maximumFractionDigits: 0 }],
  hours: [Intl.NumberFormat, { style: "unit", unit: "hour", unitDisplay: "short", maximumFractionDigits: 1 }],
  time: [Intl.DateTimeFormat, { timeStyle: "medium" }],
  clock: [Intl.DateTimeFormat, { hour: "2-digit", minute: "2-digit" }],
  day: [Intl.DateTimeFormat, { weekday: "short", month: "numeric", day: "numeric" }],
};

export class Messages {
  constructor(language, table) {
    this.language = language;
    this.table = table;
    this.plurals = new Intl.PluralRules(language);
    // Each costs a few milliseconds to make: made once, with the table, not while drawing.
    this.formats = new Map(
      Object.entries(FORMATS).map(([name, [Kind, options]]) => [name, new Kind(language, options)]),
    );
    this.parts = new Map(); // message -> its text and placeholder names, split once
  }

  format(name) {
    return this.formats.get(name);
  }

  // The message `key` with {name} placeholders filled; a plural message picks its form by
  // `params.count`.
  t(key, params = {}) {
    let message = this.table[key];
    if (message === undefined) return key;
    if (typeof message === "object") message = message[this.plurals.select(params.count ?? 0)] ?? message.other;
    let parts = this.parts.get(message);
    if (parts === undefined) this.parts.set(message, (parts = message.split(/\{(\w+)\}/)));
    let text = parts[0];
    for (let i = 1; i < parts.length; i += 2) {
      text += (parts[i] in params ? String(params[parts[i]]) : `{${parts[i]}}`) + parts[i + 1];
    }
    return text;
  }

  has(key) {
    return key in this.table;
  }

  // --- numbers with their units ---------------------------------------------------------------

  whole(v) {
    return isNum(v) ? this.format("whole").format(v) : dash;
  }

  percent(v) {
    return isNum(v) ? this.format("percent").format(v / 100) : dash;
  }

  gib(mib) {
    return isNum(mib) ? this.gibValue(mib / 1024) : dash;
  }

  gibValue(gib) {
    return isNum(gib) ? this.t("unit.gib", { value: this.format("tenth").format(gib) }) : dash;
  }

  mib(mib) {
    return isNum(mib) ? this.t("unit.mib", { value: this.format("whole").format(mib) }) : dash;
  }

  celsius(v) {
    return isNum(v) ? this.format("celsius").format(v) : dash;
  }

  watts(v) {
    return isNum(v) ? this.t("unit.watts", { value: this.format("whole").format(v) }) : dash;
  }

  // Two decimals from 1 up, three significant digits below, so small amounts are not 0.00.
  amount(v) {
    if (!isNum(v)) return dash;
    return Math.abs(v) >= 1 || v === 0 ? this.format("hundredth").format(v) : this.format("small").format(v);
  }

  gpuHours(v) {
    return isNum(v) ? this.t("unit.gpu_hours", { value: this.amount(v) }) : dash;
  }

  kwh(v) {
    return isNum(v) ? this.t("unit.kwh", { value: this.amount(v) }) : dash;
  }

  tokens(v) {
    return isNum(v) ? this.t("unit.tokens", { value: this.format("whole").format(v), count: v }) : dash;
  }

  duration(seconds) {
    if (!isNum(seconds) || seconds < 0) return dash;
    if (seconds < 60) return this.format("seconds").format(Math.round(seconds));
    if (seconds < 3600) return this.format("minutes").format(Math.round(seconds / 60));
    return this.format("hours").format(seconds / 3600);
  }

  // --- instants (epoch seconds) ---------------------------------------------------------------

  time(t) {
    return this.format("time").format(new Date(t * 1000));
  }

  clock(t) {
    return this.format("clock").format(new Date(t * 1000));
  }

  day(t) {
    return this.format("day").format(new Date(t * 1000));
  }

  // --- the static page ------------------------------------------------------------------------

  // Fills every element marked data-i18n (its text) and data-i18n-attr ("attr:key;attr:key").
  translate(root) {
    for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = this.t(node.dataset.i18n);
    for (const node of root.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of node.dataset.i18nAttr.split(";")) {
        const [attribute, key] = pair.split(":");
        node.setAttribute(attribute, this.t(key));
      }
    }
  }
}

export async function loadMessages(language, base) {
  const response = await fetch(new URL(`static/messages-${language}.json`, base), { credentials: "omit" });
  if (!response.ok) throw new Error(`messages-${language}.json: HTTP ${response.status}`);
  return new Messages(language, await response.json());
}
