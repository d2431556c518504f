// GPU Insight dashboard. The page carries no data and no secret: the secret comes from the URL
// fragment (never sent to a server) and travels as a header on data requests only.
// Served by the collector at "/" and by the Dify endpoint at ".../dashboard"; every URL is
// relative so it also works under /e/<hook_id>/.
"use strict";

(() => {
  const REFRESH_MS = 2000;
  const HISTORY_WINDOW_S = 900;
  const HISTORY_OVERLAP_S = 5;

  // --- where we are and how to ask for data -------------------------------------------------

  const onEndpoint = /\/dashboard\/?$/.test(location.pathname);
  const base = new URL(onEndpoint ? location.pathname.replace(/dashboard\/?$/, "") : "./", location.href);
  const api = onEndpoint
    ? { snapshot: "status", history: "history", vramCheck: "vram-check", secretName: "key" }
    : { snapshot: "v1/snapshot", history: "v1/history", vramCheck: null, secretName: "token" };

  function readSecret() {
    const fragment = new URLSearchParams(location.hash.slice(1));
    return fragment.get(api.secretName) ?? fragment.get(onEndpoint ? "token" : "key") ?? "";
  }
  let secret = readSecret();

  function authHeaders() {
    if (!secret) return {};
    return onEndpoint ? { "X-Api-Key": secret } : { Authorization: `Bearer ${secret}` };
  }

  class RequestError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function request(path, init = {}) {
    const response = await fetch(new URL(path, base), {
      ...init,
      cache: "no-store",
      credentials: "omit",
      headers: { Accept: "application/json", ...authHeaders(), ...(init.headers ?? {}) },
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      // Collector and endpoint answer errors as {"error": code, "message": sentence}.
      const message = body && body.message;
      const text = typeof message === "string" ? message : `HTTP ${response.status}`;
      throw new RequestError(response.status, text);
    }
    return body;
  }

  // --- formatting ---------------------------------------------------------------------------

  const dash = "–";
  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  const fmtGib = (mib) => (isNum(mib) ? `${(mib / 1024).toFixed(1)} GiB` : dash);
  const fmtPercent = (v) => (isNum(v) ? `${Math.round(v)} %` : dash);
  const fmtCelsius = (v) => (isNum(v) ? `${Math.round(v)} °C` : dash);
  const fmtWatts = (v) => (isNum(v) ? `${Math.round(v)} W` : dash);
  const ratio = (part, whole) => (isNum(part) && isNum(whole) && whole > 0 ? Math.min(1, Math.max(0, part / whole)) : 0);

  function fmtAge(seconds) {
    if (!isNum(seconds) || seconds < 0) return "";
    if (seconds < 60) return `${Math.round(seconds)} s`;
    if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  function gpuKey(gpu) {
    return `${gpu.host ?? ""}/${gpu.uuid}`;
  }

  function gpuLabel(gpu, manyHosts) {
    return manyHosts && gpu.host ? `${gpu.host} GPU ${gpu.index}` : `GPU ${gpu.index}`;
  }

  // Attribution fields a process is grouped by in the memory chart.
  const splitters = {
    app: (p) => p.attribution?.app ?? "unattributed",
    container: (p) => p.attribution?.container_name ?? shortId(p.attribution?.container_id) ?? "no container",
    model: (p) => p.attribution?.model ?? "unknown model",
  };

  function shortId(id) {
    return id ? id.slice(0, 12) : null;
  }

  // Clock-event reasons that mean the GPU is held back; the rest are informational.
  const THROTTLE_WARNINGS = new Set([
    "hw_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
    "sw_thermal_slowdown",
    "sw_power_cap",
  ]);

  // --- DOM helpers --------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function setWidth(node, fraction) {
    const width = `${(fraction * 100).toFixed(1)}%`;
    if (node.style.width !== width) node.style.width = width;
  }

  function setLevel(node, level) {
    if (node.dataset.level !== level) node.dataset.level = level;
  }

  // Reuses one DOM node per key: nodes are created once, updated in place, removed when gone.
  function reconcile(container, items, keyOf, create, update) {
    const existing = new Map();
    for (const node of container.children) existing.set(node.dataset.key, node);
    let previous = null;
    for (const item of items) {
      const key = keyOf(item);
      let node = existing.get(key);
      if (node) existing.delete(key);
      else {
        node = create(item);
        node.dataset.key = key;
      }
      update(node, item);
      const expected = previous ? previous.nextSibling : container.firstChild;
      if (node !== expected) container.insertBefore(node, expected);
      previous = node;
    }
    for (const node of existing.values()) node.remove();
  }

  // --- state --------------------------------------------------------------------------------

  const state = {
    snapshot: null,
    selected: null, // gpuKey of the GPU whose processes are shown
    history: new Map(), // gpu_uuid -> [{t, utilization_percent, memory_used_mib}]
    historyTo: null,
    split: "app",
  };

  // --- charts -------------------------------------------------------------------------------

  const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");
  const themeName = () => (darkQuery.matches ? "dark" : "default");
  const chartsAvailable = typeof window.echarts !== "undefined";
  const charts = {};

  function makeChart(id) {
    const chart = window.echarts.init($(id), themeName(), { renderer: "canvas" });
    new ResizeObserver(() => chart.resize()).observe($(id));
    return chart;
  }

  // No animation: a 2 s refresh would restart it constantly, and a moving chart reads as flicker.
  const baseOption = { backgroundColor: "transparent", animation: false };
  const toGib = (mib) => (isNum(mib) ? Math.round((mib / 1024) * 100) / 100 : null);
  const gibValue = (gib) => (isNum(gib) ? `${gib.toFixed(1)} GiB` : dash);

  function initCharts() {
    if (!chartsAvailable) {
      for (const id of ["memory-chart", "util-chart", "memhist-chart"]) {
        $(id).textContent = "Charts unavailable: static/echarts.min.js was not bundled (run make web).";
        $(id).classList.add("muted");
      }
      return;
    }
    charts.memory = makeChart("memory-chart");
    charts.memory.setOption({
      ...baseOption,
      tooltip: { trigger: "item", valueFormatter: gibValue },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 24, top: 8, bottom: 36, containLabel: true },
      xAxis: { type: "value", axisLabel: { formatter: "{value} GiB", hideOverlap: true } },
      yAxis: { type: "category", inverse: true, data: [] },
      series: [],
    });
    charts.memory.on("click", (event) => {
      const gpu = state.snapshot?.gpus[event.dataIndex];
      if (gpu) select(gpuKey(gpu));
    });

    const timeChart = (id, axis) => {
      const chart = makeChart(id);
      chart.setOption({
        ...baseOption,
        tooltip: { trigger: "axis", valueFormatter: axis.format },
        legend: { type: "scroll", bottom: 0 },
        grid: { left: 8, right: 16, top: 12, bottom: 36, containLabel: true },
        xAxis: { type: "time", axisLabel: { hideOverlap: true } },
        yAxis: { type: "value", min: 0, max: axis.max, axisLabel: { formatter: axis.label } },
        series: [],
      });
      return chart;
    };
    charts.util = timeChart("util-chart", { max: 100, format: fmtPercent, label: "{value} %" });
    charts.memhist = timeChart("memhist-chart", { max: null, format: gibValue, label: "{value} GiB" });

    darkQuery.addEventListener("change", () => {
      for (const chart of Object.values(charts)) chart.setTheme(themeName());
    });
  }

  // --- rendering: header, banners -----------------------------------------------------------

  function renderHeader(snapshot) {
    setText($("host"), snapshot.host ?? "");
    const source = $("source");
    setText(source, snapshot.source);
    setLevel(source, snapshot.source === "replay" ? "warn" : "ok");
    $("replay-banner").hidden = snapshot.source !== "replay";
    const health = $("health");
    setText(health, snapshot.health_reason ? `${snapshot.health}: ${snapshot.health_reason}` : snapshot.health);
    setLevel(health, snapshot.health === "ok" ? "ok" : snapshot.health === "degraded" ? "warn" : "bad");
    const updated = $("updated");
    const at = new Date(snapshot.collected_at * 1000);
    setText(updated, at.toLocaleTimeString());
    updated.dateTime = at.toISOString();
    updated.dataset.collectedAt = String(snapshot.collected_at);
  }

  function showError(message) {
    const banner = $("error-banner");
    banner.hidden = !message;
    setText(banner, message ?? "");
  }

  function askForSecret(status) {
    const form = $("secret-form");
    form.hidden = false;
    setText($("secret-label"), onEndpoint ? "Endpoint API key" : "Collector token");
    setText(
      $("secret-hint"),
      status === 403
        ? "That secret was refused."
        : `Or open this page as …#${api.secretName}=YOUR_SECRET.`,
    );
  }

  // --- rendering: GPU cards -----------------------------------------------------------------

  function createCard() {
    const card = $("gpu-card-template").content.firstElementChild.cloneNode(true);
    const choose = () => select(card.dataset.key);
    card.addEventListener("click", choose);
    card.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        choose();
      }
    });
    return card;
  }

  function updateCard(card, { gpu, processCount, manyHosts }) {
    const q = (selector) => card.querySelector(selector);
    card.dataset.gpuUuid = gpu.uuid;
    card.setAttribute("aria-pressed", String(state.selected === card.dataset.key));
    setText(q(".gpu-index"), gpuLabel(gpu, manyHosts));
    setText(q(".gpu-name"), gpu.name);
    const health = q(".health");
    setText(health, gpu.health);
    setLevel(health, gpu.health === "ok" ? "ok" : gpu.health === "degraded" ? "warn" : "bad");
    setText(q(".gpu-sub"), `${processCount} process${processCount === 1 ? "" : "es"}`);

    setText(q(".util-value"), fmtPercent(gpu.utilization_percent));
    setWidth(q(".util-bar"), ratio(gpu.utilization_percent, 100));

    setText(q(".mem-used"), fmtGib(gpu.memory_used_mib));
    setText(q(".mem-reserved"), fmtGib(gpu.memory_reserved_mib));
    setText(q(".mem-free"), fmtGib(gpu.memory_free_mib));
    const usedFraction = ratio(gpu.memory_used_mib, gpu.memory_total_mib);
    setText(q(".mem-percent"), isNum(gpu.memory_total_mib) ? fmtPercent(usedFraction * 100) : dash);
    setText(q(".mem-total"), isNum(gpu.memory_total_mib) ? `of ${fmtGib(gpu.memory_total_mib)}` : "");
    setWidth(q(".mem-used-bar"), usedFraction);
    setWidth(q(".mem-reserved-bar"), ratio(gpu.memory_reserved_mib, gpu.memory_total_mib));
    setLevel(q(".mem-used-bar"), usedFraction > 0.9 ? "bad" : usedFraction > 0.75 ? "warn" : "ok");

    setText(q(".temp-value"), fmtCelsius(gpu.temperature_celsius));
    const slowdown = gpu.temperature_slowdown_celsius;
    setText(q(".temp-limit"), isNum(slowdown) ? `of ${fmtCelsius(slowdown)} slowdown` : "");
    const tempFraction = ratio(gpu.temperature_celsius, slowdown);
    setWidth(q(".temp-bar"), tempFraction);
    const tempMargin = isNum(slowdown) && isNum(gpu.temperature_celsius) ? slowdown - gpu.temperature_celsius : null;
    setLevel(q(".temp-bar"), tempMargin === null ? "ok" : tempMargin <= 5 ? "bad" : tempMargin <= 10 ? "warn" : "ok");

    setText(q(".power-value"), fmtWatts(gpu.power_watts));
    setText(q(".power-limit"), isNum(gpu.power_limit_watts) ? `of ${fmtWatts(gpu.power_limit_watts)} limit` : "");
    const powerFraction = ratio(gpu.power_watts, gpu.power_limit_watts);
    setWidth(q(".power-bar"), powerFraction);
    setLevel(q(".power-bar"), powerFraction > 0.95 ? "warn" : "ok");

    const events = q(".clock-events");
    const reasons = gpu.clock_event_reasons ?? [];
    reconcile(
      events,
      reasons.length ? reasons : ["none"],
      (reason) => reason,
      () => document.createElement("span"),
      (chip, reason) => {
        chip.className = "chip";
        setText(chip, reason.replaceAll("_", " "));
        setLevel(chip, THROTTLE_WARNINGS.has(reason) ? "warn" : "info");
      },
    );
    const reason = q(".health-reason");
    setText(reason, gpu.health_reason ?? "");
    reason.hidden = !gpu.health_reason;
  }

  function renderGpus(snapshot) {
    const hosts = new Set(snapshot.gpus.map((g) => g.host ?? ""));
    const manyHosts = hosts.size > 1;
    const counts = new Map();
    for (const p of snapshot.processes) counts.set(p.gpu_uuid, (counts.get(p.gpu_uuid) ?? 0) + 1);
    const items = snapshot.gpus.map((gpu) => ({ gpu, processCount: counts.get(gpu.uuid) ?? 0, manyHosts }));
    reconcile($("gpus"), items, (item) => gpuKey(item.gpu), createCard, updateCard);
    $("no-gpus").hidden = snapshot.gpus.length > 0;
  }

  // --- rendering: process drill-down --------------------------------------------------------

  const processColumns = [
    (p) => String(p.pid),
    (p) => p.name ?? dash,
    (p) => p.attribution?.container_name ?? shortId(p.attribution?.container_id) ?? dash,
    (p) => p.attribution?.engine ?? "unknown",
    (p) => p.attribution?.model ?? dash,
    (p) => p.attribution?.app ?? dash,
    (p) => p.attribution?.team ?? dash,
    (p) => fmtGib(p.used_memory_mib),
    (p) => fmtPercent(p.sm_utilization_percent),
  ];

  function createRow() {
    const row = document.createElement("tr");
    const headings = $("processes").tHead.rows[0].cells;
    processColumns.forEach((_, i) => {
      const cell = document.createElement("td");
      cell.className = headings[i].className;
      cell.dataset.label = headings[i].textContent; // shown beside the value on narrow screens
      row.append(cell);
    });
    return row;
  }

  function updateRow(row, process) {
    row.dataset.pid = String(process.pid);
    processColumns.forEach((column, i) => setText(row.cells[i], column(process)));
    row.title = process.attribution?.unattributed_reason ?? process.cmdline ?? "";
  }

  function renderProcesses(snapshot) {
    const panel = $("processes-panel");
    const manyHosts = new Set(snapshot.gpus.map((g) => g.host ?? "")).size > 1;
    const gpu = snapshot.gpus.find((g) => gpuKey(g) === state.selected);
    if (!gpu) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    setText($("processes-gpu"), `${gpuLabel(gpu, manyHosts)} · ${gpu.name}`);
    const rows = snapshot.processes
      .filter((p) => p.gpu_uuid === gpu.uuid && (p.host ?? "") === (gpu.host ?? ""))
      .sort((a, b) => (b.used_memory_mib ?? -1) - (a.used_memory_mib ?? -1) || a.pid - b.pid);
    reconcile($("processes").tBodies[0], rows, (p) => String(p.pid), createRow, updateRow);
    $("no-processes").hidden = rows.length > 0;
  }

  function select(key) {
    state.selected = state.selected === key ? null : key;
    if (!state.snapshot) return;
    renderGpus(state.snapshot);
    renderProcesses(state.snapshot);
    if (state.selected) $("processes-panel").scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  // --- rendering: memory split --------------------------------------------------------------

  function renderMemory(snapshot) {
    if (!charts.memory) return;
    const split = splitters[state.split];
    const manyHosts = new Set(snapshot.gpus.map((g) => g.host ?? "")).size > 1;
    const byGroup = new Map(); // group -> per-GPU MiB
    const attributed = snapshot.gpus.map(() => 0);
    snapshot.gpus.forEach((gpu, i) => {
      for (const p of snapshot.processes) {
        if (p.gpu_uuid !== gpu.uuid || (p.host ?? "") !== (gpu.host ?? "") || !isNum(p.used_memory_mib)) continue;
        const group = split(p);
        if (!byGroup.has(group)) byGroup.set(group, snapshot.gpus.map(() => 0));
        byGroup.get(group)[i] += p.used_memory_mib;
        attributed[i] += p.used_memory_mib;
      }
    });
    const bar = (name, data, extra = {}) => ({
      name,
      type: "bar",
      stack: "memory",
      barMaxWidth: 28,
      emphasis: { focus: "series" },
      data: data.map(toGib),
      ...extra,
    });
    const groups = [...byGroup.keys()].sort((a, b) => a.localeCompare(b));
    const series = groups.map((group) => bar(group, byGroup.get(group)));
    // Used memory no listed process accounts for: other users' processes, or none visible.
    const other = snapshot.gpus.map((g, i) => Math.max(0, (g.memory_used_mib ?? 0) - attributed[i]));
    series.push(bar("not in process list", other, { itemStyle: { color: "#9a9a9a" } }));
    series.push(bar("reserved", snapshot.gpus.map((g) => g.memory_reserved_mib ?? 0), { itemStyle: { color: "#c6b38e" } }));
    series.push(
      bar("free", snapshot.gpus.map((g) => g.memory_free_mib ?? 0), {
        itemStyle: { color: "rgba(128,128,128,0.15)" },
      }),
    );
    const height = `${Math.max(160, 70 + snapshot.gpus.length * 40)}px`;
    const box = $("memory-chart");
    if (box.style.height !== height) box.style.height = height;
    const totals = snapshot.gpus.map((g) => g.memory_total_mib).filter(isNum);
    charts.memory.setOption(
      {
        xAxis: { max: totals.length ? Math.ceil(toGib(Math.max(...totals))) : null },
        yAxis: { data: snapshot.gpus.map((g) => gpuLabel(g, manyHosts)) },
        series,
      },
      { replaceMerge: ["series"] },
    );
  }

  // --- rendering: alerts --------------------------------------------------------------------

  function createAlert() {
    return $("alert-template").content.firstElementChild.cloneNode(true);
  }

  function updateAlert(item, alert) {
    const severity = item.querySelector(".severity");
    setText(severity, alert.severity);
    setLevel(severity, alert.severity === "critical" ? "bad" : alert.severity === "warning" ? "warn" : "info");
    setText(item.querySelector(".alert-state"), alert.state);
    setText(item.querySelector(".alert-message"), alert.message);
    const since = (state.snapshot?.collected_at ?? Date.now() / 1000) - (alert.fired_at ?? alert.started_at);
    setText(item.querySelector(".alert-since"), `for ${fmtAge(since)}`);
  }

  function renderAlerts(snapshot) {
    const active = snapshot.alerts.filter((a) => a.state !== "resolved");
    const order = { critical: 0, warning: 1, info: 2 };
    active.sort((a, b) => order[a.severity] - order[b.severity] || a.started_at - b.started_at);
    reconcile(
      $("alerts"),
      active,
      (a) => `${a.rule}/${a.host ?? ""}/${a.gpu_uuid ?? ""}`,
      createAlert,
      updateAlert,
    );
    $("no-alerts").hidden = active.length > 0;
  }

  // --- history ------------------------------------------------------------------------------

  function mergeHistory(history) {
    const cutoff = history.to_t - HISTORY_WINDOW_S;
    for (const gpu of history.gpus) {
      const points = state.history.get(gpu.gpu_uuid) ?? [];
      // The newest bucket may still be filling: the overlap replaces what we held for it.
      if (gpu.points.length) {
        const from = gpu.points[0].t;
        while (points.length && points[points.length - 1].t >= from) points.pop();
        points.push(...gpu.points);
      }
      const firstKept = points.findIndex((p) => p.t >= cutoff);
      points.splice(0, firstKept === -1 ? points.length : firstKept);
      state.history.set(gpu.gpu_uuid, points);
    }
    state.historyTo = history.to_t;
  }

  async function refreshHistory(snapshot) {
    const seconds =
      state.historyTo === null
        ? HISTORY_WINDOW_S
        : Math.min(HISTORY_WINDOW_S, Math.ceil(snapshot.collected_at - state.historyTo) + HISTORY_OVERLAP_S);
    const history = await request(`${api.history}?seconds=${Math.max(1, seconds)}`);
    mergeHistory(history);
    renderHistory(snapshot);
  }

  function renderHistory(snapshot) {
    if (!charts.util) return;
    const manyHosts = new Set(snapshot.gpus.map((g) => g.host ?? "")).size > 1;
    const nameOf = new Map(snapshot.gpus.map((g) => [g.uuid, gpuLabel(g, manyHosts)]));
    const lines = (field, scale) =>
      [...state.history.entries()].map(([uuid, points]) => ({
        name: nameOf.get(uuid) ?? uuid,
        type: "line",
        showSymbol: false,
        sampling: "lttb",
        connectNulls: false,
        data: points.map((p) => [p.t * 1000, scale(p[field] ?? null)]),
      }));
    // The axis spans the whole window, so a collector that just started shows a short line.
    const xAxis = { min: (state.historyTo - HISTORY_WINDOW_S) * 1000, max: state.historyTo * 1000 };
    const percent = (v) => v;
    charts.util.setOption({ xAxis, series: lines("utilization_percent", percent) }, { replaceMerge: ["series"] });
    // Memory is drawn against the largest GPU's total, so a full GPU reads as full.
    const totals = snapshot.gpus.map((g) => g.memory_total_mib).filter(isNum);
    charts.memhist.setOption(
      {
        xAxis,
        yAxis: { max: totals.length ? Math.ceil(toGib(Math.max(...totals))) : null },
        series: lines("memory_used_mib", toGib),
      },
      { replaceMerge: ["series"] },
    );
  }

  // --- the refresh loop ---------------------------------------------------------------------

  let timer = null;

  async function refresh() {
    clearTimeout(timer);
    try {
      const snapshot = await request(api.snapshot);
      state.snapshot = snapshot;
      $("secret-form").hidden = true;
      renderHeader(snapshot);
      renderGpus(snapshot);
      renderProcesses(snapshot);
      renderMemory(snapshot);
      renderAlerts(snapshot);
      showError(null);
      try {
        await refreshHistory(snapshot);
      } catch (error) {
        showError(`History unavailable: ${error.message}`);
      }
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        askForSecret(error.status);
        showError(null);
      } else {
        const shown = state.snapshot ? ` (showing data from ${$("updated").textContent})` : "";
        showError(`Update failed: ${error.message}${shown}`);
      }
    } finally {
      if (!document.hidden) timer = setTimeout(refresh, REFRESH_MS);
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });

  window.addEventListener("hashchange", () => {
    secret = readSecret();
    state.history.clear();
    state.historyTo = null;
    refresh();
  });

  $("secret-form").addEventListener("submit", (event) => {
    event.preventDefault();
    // The fragment stays in the browser; changing it triggers hashchange, which refreshes.
    location.hash = `${api.secretName}=${encodeURIComponent($("secret-input").value)}`;
  });

  $("split").addEventListener("change", (event) => {
    state.split = event.target.value;
    if (state.snapshot) renderMemory(state.snapshot);
  });

  // --- will it fit? (only through the Dify endpoint, where the estimator runs) --------------

  // Fixed locale: the figures read the same for everyone, thousands grouped.
  const wholeNumber = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const fmtWhole = (v) => (isNum(v) ? wholeNumber.format(v) : dash);
  const fmtMib = (mib) => (isNum(mib) ? `${wholeNumber.format(mib)} MiB (${fmtGib(mib)})` : dash);

  // The form's fields are POST /vram-check's parameters; empty ones are left to its defaults.
  function fitRequestBody(form) {
    const body = {};
    for (const [name, value] of new FormData(form)) {
      if (value === "") continue;
      body[name] = form.elements[name].type === "number" ? Number(value) : value;
    }
    return body;
  }

  function showFitStatus(text, level) {
    const status = $("fit-status");
    status.hidden = !text;
    setText(status, text ?? "");
    setLevel(status, level ?? "info");
  }

  function initFitForm() {
    if (!api.vramCheck) return;
    $("fit-panel").hidden = false;
    const form = $("fit-form");
    const button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      $("fit-answer").hidden = true;
      showFitStatus("Checking…", "info");
      try {
        const answer = await request(api.vramCheck, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(fitRequestBody(form)),
        });
        showFitStatus(null);
        renderFit(answer);
      } catch (error) {
        showFitStatus(
          error.status === 404 ? "This plugin version has no POST /vram-check endpoint." : error.message,
          "bad",
        );
      } finally {
        button.disabled = false;
      }
    });
  }

  function fillList(list, items) {
    list.replaceChildren(
      ...items.map((text) => {
        const item = document.createElement("li");
        item.textContent = text;
        return item;
      }),
    );
    list.closest("div").hidden = items.length === 0;
  }

  function bestGpuText(placement) {
    if (!placement) return "none";
    const where = `GPU ${placement.gpu_indices.join(", ")}`;
    const names = [...new Set(placement.gpu_names)].join(", ");
    return `${placement.host ? `${placement.host} ` : ""}${where} · ${names}`;
  }

  // One unbreakable piece per flag and its value, so a narrow screen wraps between flags only.
  function renderFlags(code, flags) {
    const pieces = flags ? flags.split(/ (?=--)/) : [dash];
    code.replaceChildren(
      ...pieces.flatMap((piece, i) => {
        const span = document.createElement("span");
        span.className = "flag";
        span.textContent = piece;
        return i ? [" ", span] : [span];
      }),
    );
  }

  function renderFit(answer) {
    const fits = $("fit-fits");
    if (answer.fits === null) {
      setText(fits, "unknown: no live GPU data");
      setLevel(fits, "warn");
    } else {
      setText(fits, answer.fits ? "yes" : "no");
      setLevel(fits, answer.fits ? "ok" : "bad");
    }
    const parallel = answer.tensor_parallel > 1 ? `, tensor parallel ${answer.tensor_parallel}` : "";
    setText(
      $("fit-request"),
      `${answer.model} on ${answer.engine}, ${answer.quantization}, ` +
        `${fmtWhole(answer.context_length)} tokens × ${answer.concurrency}${parallel}`,
    );
    setText(
      $("fit-required"),
      `${fmtMib(answer.required_mib)} held; needs at least ${fmtWhole(answer.need_mib_per_gpu)} MiB per GPU`,
    );
    const placement = answer.placement;
    setText($("fit-best-gpu"), bestGpuText(placement));
    setText($("fit-headroom"), placement ? fmtMib(placement.headroom_mib) : dash);
    setText(
      $("fit-max-context"),
      isNum(answer.max_context_tokens) ? `${fmtWhole(answer.max_context_tokens)} tokens` : dash,
    );
    renderFlags($("fit-flags"), answer.flags);
    fillList($("fit-errors"), answer.errors);
    fillList($("fit-notes"), answer.notes);
    $("fit-answer").hidden = false;
  }

  initCharts();
  initFitForm();
  refresh();
})();
