//# allFunctionsCalledOnLoad
// The reader's choices (language, history range), kept in this browser between visits.
"use strict";

const PREFIX = "gpu-insight:";

// The stored value of `name` if it is one of `accepted`, else null.
export function readChoice(name, accepted) {
  try {
    const stored = localStorage.getItem(PREFIX + name);
    return accepted.find((value) => String(value) === stored) ?? null;
  } catch {
    return null; // storage refused (private mode, sandboxed frame)
  }
}

export function keepChoice(name, value) {
  try {
    localStorage.setItem(PREFIX + name, String(value));
  } catch {
    // the choice then lasts for this page only
  }
}
