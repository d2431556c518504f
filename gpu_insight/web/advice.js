//# allFunctionsCalledOnLoad
// The top suggestions of serving_advice: severity, what to change exactly, and the evidence.
"use strict";

import { $, fromTemplate, reconcile, setHidden, setLevel, setText } from "./dom.js";

const SHOWN = 5;
const LEVEL = { critical: "bad", warning: "warn", info: "info" };

export function renderAdvice(m, answer) {
  const suggestions = answer.suggestions.slice(0, SHOWN);
  reconcile(
    $("advice"),
    suggestions,
    (s) => `${s.id}/${s.scope}`,
    () => fromTemplate("advice-template"),
    (item, s) => {
      const severity = item.querySelector(".severity");
      setText(severity, m.t(`severity.${s.severity}`));
      setLevel(severity, LEVEL[s.severity] ?? "info");
      setText(item.querySelector(".advice-title"), s.title);
      setText(item.querySelector(".advice-scope"), s.scope);
      setText(item.querySelector(".advice-change-label"), m.t("advice.change"));
      setText(item.querySelector(".advice-change"), s.change);
      setText(item.querySelector(".advice-effect-label"), m.t("advice.effect"));
      setText(item.querySelector(".advice-effect"), s.expected_effect);
      setText(item.querySelector(".advice-evidence-label"), m.t("advice.evidence"));
      const evidence = Object.entries(s.evidence);
      reconcile(
        item.querySelector(".advice-evidence"),
        evidence,
        ([name]) => name,
        () => document.createElement("li"),
        (li, [name, value]) => setText(li, m.t("advice.evidence_item", { name: name.replaceAll("_", " "), value: format(m, value) })),
      );
      setText(item.querySelector(".advice-source"), m.t("advice.source", { source: s.source }));
    },
  );
  const more = answer.suggestions.length - suggestions.length;
  setHidden($("advice-more"), more <= 0);
  setText($("advice-more"), m.t("advice.more", { count: more }));
  setHidden($("no-advice"), answer.suggestions.length > 0);
}

function format(m, value) {
  if (typeof value !== "number") return String(value);
  return Number.isInteger(value) ? m.whole(value) : m.amount(value);
}
