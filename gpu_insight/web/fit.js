//# allFunctionsCalledOnLoad
// "Will it fit?": the form's fields are POST /vram-check's parameters (empty ones are left to
// its defaults); the answer is shown as the estimator gives it.
"use strict";

import { $, isNum, setLevel, setText } from "./dom.js";
import { RequestError, request, routes } from "./api.js";

export class FitForm {
  constructor(getMessages) {
    this.m = getMessages;
    this.answer = null;
    const form = $("fit-form");
    const button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      $("fit-answer").hidden = true;
      this.status("fit.checking", "info");
      try {
        this.answer = await request(routes.vramCheck, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(requestBody(form)),
        });
        this.status(null);
        this.render();
      } catch (error) {
        this.answer = null;
        if (error instanceof RequestError && error.status === 404) this.status("fit.no_route", "bad");
        else if (error instanceof RequestError && error.detail) this.status(null, "bad", error.detail);
        else this.status("fit.failed", "bad");
      } finally {
        button.disabled = false;
      }
    });
  }

  // A message key, or the server's own sentence (`text`) when it gave one.
  status(key, level = "info", text = null) {
    const node = $("fit-status");
    node.hidden = !key && !text;
    setText(node, text ?? (key ? this.m().t(key) : ""));
    setLevel(node, level);
  }

  render() {
    const answer = this.answer;
    if (!answer) return;
    const m = this.m();
    const fits = $("fit-fits");
    if (answer.fits === null) {
      setText(fits, m.t("fit.fits_unknown"));
      setLevel(fits, "warn");
    } else {
      setText(fits, m.t(answer.fits ? "fit.yes" : "fit.no"));
      setLevel(fits, answer.fits ? "ok" : "bad");
    }
    const parallel = answer.tensor_parallel > 1 ? m.t("fit.parallel", { size: answer.tensor_parallel }) : "";
    setText(
      $("fit-request"),
      m.t("fit.request", {
        model: answer.model,
        engine: answer.engine,
        quantization: answer.quantization,
        context: m.whole(answer.context_length),
        concurrency: m.whole(answer.concurrency),
        parallel,
      }),
    );
    const mibAndGib = (mib) => (isNum(mib) ? m.t("fit.mib_and_gib", { mib: m.mib(mib), gib: m.gib(mib) }) : "–");
    setText(
      $("fit-required"),
      m.t("fit.required", { held: mibAndGib(answer.required_mib), per_gpu: m.mib(answer.need_mib_per_gpu) }),
    );
    const placement = answer.placement;
    setText(
      $("fit-best-gpu"),
      placement
        ? m.t(placement.host ? "fit.placement_host" : "fit.placement", {
            host: placement.host ?? "",
            gpus: placement.gpu_indices.join(", "),
            names: [...new Set(placement.gpu_names)].join(", "),
          })
        : m.t("fit.no_placement"),
    );
    setText($("fit-headroom"), placement ? mibAndGib(placement.headroom_mib) : "–");
    setText($("fit-max-context"), m.tokens(answer.max_context_tokens));
    renderFlags($("fit-flags"), answer.flags);
    fillList($("fit-errors"), answer.errors);
    fillList($("fit-notes"), answer.notes);
    $("fit-answer").hidden = false;
  }
}

function requestBody(form) {
  const body = {};
  for (const [name, value] of new FormData(form)) {
    if (value === "") continue;
    body[name] = form.elements[name].type === "number" ? Number(value) : value;
  }
  return body;
}

function fillList(list, items) {
  list.replaceChildren(...items.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
  list.closest("div").hidden = items.length === 0;
}

// One unbreakable piece per flag and its value, so a narrow screen wraps between flags only.
function renderFlags(code, flags) {
  const pieces = flags ? flags.split(/ (?=--)/) : ["–"];
  code.replaceChildren(
    ...pieces.flatMap((piece, i) => {
      const span = Object.assign(document.createElement("span"), { className: "flag", textContent: piece });
      return i ? [" ", span] : [span];
    }),
  );
}
