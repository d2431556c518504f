//# allFunctionsCalledOnLoad
// GPU Insight dashboard: every GPU, every process, cost per app and team, advice, history and
// alerts, refreshed every 2 s. The page carries no data and no secret; see api.js.
"use strict";

import { $, fromTemplate, isNum, ratio, reconcile, setAttr, setHidden, setLevel, setText, setWidth } from "./dom.js";
import { LANGUAGES, languageName, loadMessages, pickLanguage } from "./i18n.js";
import { keepChoice, readChoice } from "./prefs.js";
import { RequestError, base, query, request, rereadSecret, routes, server } from "./api.js";
import { COLORS, Chart, chartsAvailable, onThemeChange } from "./charts.js";
import { HistoryCharts, RANGES_S } from "./history.js";
import { UsagePanel } from "./usage.js";
import { renderAdvice } from "./advice.js";
import { FitForm } from "./fit.js";

const REFRESH_MS = 2000;
const ALERTS_EVERY_MS = 30_000; // resolved alerts, for the intervals drawn on the history
const ADVICE_EVERY_MS = 30_000;
const USAGE_EVERY_MS = 60_000;
const ROWS_PER_GPU = 8; // more are behind a "show all" button, so many processes stay readable
const COMPACT_FROM_GPUS = 9; // from this many GPUs in view, cards show only the main figures
const INTERVALS_KEPT_S = 86400;
const THROTTLE_WARNINGS = new Set([
  "hw_slowdown",
  "hw_thermal_slowdown",
  "hw_power_brake_slowdown",
  "sw_thermal_slowdown",
  "sw_power_cap",
]);
const HEALTH_LEVEL = { ok: "ok", degraded: "warn", down: "bad", lost: "bad" };
const SEVERITY_LEVEL = { critical: "bad", warning: "warn", info: "info" };

let m = null; // the reader's message table and formats (i18n.js Messages)

const state = {
  snapshot: null,
  clockOffsetS: 0, // collector time minus browser time
  selected: null, // key of the GPU whose processes alone are shown
  host: null, // the one host shown, or null for all
  expanded: new Set(), // GPUs whose processes are all listed
  split: "app",
  failure: null, // the RequestError of the last refresh, while it lasts
  alerts: new Map(), // alert key -> {alert, seenAt}
};

const history = new HistoryCharts();
const usage = new UsagePanel(server);
const fit = new FitForm(() => m);

// --- what is in view -------------------------------------------------------------------------

const gpuKey = (gpu) => `${gpu.host ?? ""}/${gpu.uuid}`;
const processGpuKey = (p) => `${p.host ?? ""}/${p.gpu_uuid}`;
const hostsOf = (snapshot) => [...new Set(snapshot.gpus.map((g) => g.host ?? snapshot.host))];

function viewOf(snapshot) {
  const hosts = hostsOf(snapshot);
  const manyHosts = hosts.length > 1;
  const host = manyHosts && hosts.includes(state.host) ? state.host : null;
  const gpus = snapshot.gpus
    .filter((g) => host === null || (g.host ?? snapshot.host) === host)
    .map((g) => ({ ...g, key: gpuKey(g), label: gpuLabel(g, manyHosts) }));
  // Each GPU's processes: keyed once here, read by every panel.
  const processesOf = new Map(gpus.map((g) => [g.key, []]));
  for (const p of snapshot.processes) processesOf.get(processGpuKey(p))?.push(p);
  return { hosts, manyHosts, host, gpus, processesOf };
}

const largerFirst = (a, b) => (b.used_memory_mib ?? -1) - (a.used_memory_mib ?? -1) || a.pid - b.pid;

// The `count` processes holding the most memory, largest first, without sorting all of them:
// a GPU lists its first few of hundreds on every refresh.
function largest(processes, count) {
  if (count >= processes.length) return [...processes].sort(largerFirst);
  const top = [];
  for (const p of processes) {
    if (top.length === count && largerFirst(p, top[count - 1]) >= 0) continue; // not among them
    let i = top.length;
    while (i > 0 && largerFirst(p, top[i - 1]) < 0) i--;
    top.splice(i, 0, p);
    if (top.length > count) top.pop();
  }
  return top;
}

function gpuLabel(gpu, manyHosts) {
  return manyHosts && gpu.host ? m.t("gpu.label_host", { host: gpu.host, index: gpu.index }) : m.t("gpu.label", { index: gpu.index });
}

// --- header and banners ----------------------------------------------------------------------

function renderHeader(snapshot, view) {
  setText($("host"), view.manyHosts ? m.t("header.hosts", { count: view.hosts.length }) : snapshot.host);
  const source = $("source");
  setText(source, m.t(`source.${snapshot.source}`));
  setLevel(source, snapshot.source === "replay" ? "warn" : "ok");
  setHidden($("replay-banner"), snapshot.source !== "replay");
  const via = $("via"); // read through Prometheus: its URL (never credentials) on hover
  const prometheusUrl = snapshot.prometheus_url ?? "";
  setHidden(via, !prometheusUrl);
  setText(via, prometheusUrl ? m.t("header.via_prometheus") : "");
  if (via.title !== prometheusUrl) via.title = prometheusUrl;
  const health = $("health");
  const status = m.t(`health.${snapshot.health}`);
  setText(health, snapshot.health_reason ? m.t("health.with_reason", { status, reason: snapshot.health_reason }) : status);
  setLevel(health, HEALTH_LEVEL[snapshot.health] ?? "bad");
  const updated = $("updated");
  setText(updated, m.time(snapshot.collected_at));
  updated.dateTime = new Date(snapshot.collected_at * 1000).toISOString();
  updated.dataset.collectedAt = String(snapshot.collected_at);
  const missing = snapshot.missing_collectors ?? [];
  setHidden($("missing-banner"), missing.length === 0);
  setText(
    $("missing-banner"),
    missing.length ? m.t("banner.missing", { count: missing.length, reasons: missing.map((c) => c.reason).join(" ") }) : "",
  );
  renderHostSelect(view);
}

function renderHostSelect(view) {
  const select = $("host-select");
  setHidden($("host-picker"), !view.manyHosts);
  const options = [{ value: "", text: m.t("hosts.all", { count: view.hosts.length }) }, ...view.hosts.map((h) => ({ value: h, text: h }))];
  reconcile(
    select,
    options,
    (o) => o.value,
    () => document.createElement("option"),
    (node, o) => {
      node.value = o.value;
      setText(node, o.text);
    },
  );
  select.value = view.host ?? "";
}

function reasonOf(error) {
  if (error.kind === "network") return m.t(`error.network.${server}`);
  if (error.kind === "auth") return m.t(error.status === 401 ? `error.secret_missing.${server}` : `error.secret_refused.${server}`);
  if (error.code && m.has(`error.code.${error.code}`)) return m.t(`error.code.${error.code}`);
  return m.t("error.http", { status: error.status });
}

function renderFailure() {
  const error = state.failure;
  const stale = error !== null && state.snapshot !== null;
  setHidden($("error-banner"), error === null);
  if (stale) document.body.dataset.stale = "";
  else delete document.body.dataset.stale;
  setHidden($("stale"), !stale);
  setText($("stale"), m.t("header.stale"));
  if (error === null) return;
  setText($("error-reason"), reasonOf(error));
  setText($("error-detail"), error.detail ?? "");
  setText(
    $("error-kept"),
    stale ? m.t("banner.kept", { time: m.time(state.snapshot.collected_at) }) : m.t("banner.retrying"),
  );
  if (error.kind === "auth") askForSecret(error.status);
}

function askForSecret(status) {
  setHidden($("secret-form"), false);
  setText($("secret-label"), m.t(`secret.label.${server}`));
  setText($("secret-hint"), status === 403 ? m.t("secret.refused") : m.t("secret.hint", { name: routes.secretName }));
}

// --- GPU cards -------------------------------------------------------------------------------

function createCard() {
  const card = fromTemplate("gpu-card-template"); // translated with the page (useLanguage)
  // The button is what keyboards reach; a click anywhere on the card does the same.
  card.addEventListener("click", () => select(card.dataset.key));
  return card;
}

function updateCard(card, { gpu, processCount }) {
  card.parts ??= new Map(); // the card's elements, found once
  const q = (selector) => card.parts.get(selector) ?? card.parts.set(selector, card.querySelector(selector)).get(selector);
  card.dataset.gpuUuid = gpu.uuid;
  const pressed = String(state.selected === gpu.key);
  setAttr(q(".gpu-select"), "aria-pressed", pressed);
  setAttr(card, "data-selected", pressed);
  setText(q(".gpu-index"), m.t("gpu.label", { index: gpu.index })); // its host heads the group
  setText(q(".gpu-name"), gpu.name);
  const health = q(".health");
  setText(health, m.t(`health.${gpu.health}`));
  setLevel(health, HEALTH_LEVEL[gpu.health] ?? "bad");
  setText(q(".gpu-sub"), m.t("gpu.processes", { count: processCount }));

  setText(q(".util-value"), m.percent(gpu.utilization_percent));
  setWidth(q(".util-bar"), ratio(gpu.utilization_percent, 100));

  const used = ratio(gpu.memory_used_mib, gpu.memory_total_mib);
  setText(q(".mem-percent"), isNum(gpu.memory_total_mib) ? m.percent(used * 100) : "–");
  setText(q(".mem-total"), isNum(gpu.memory_total_mib) ? m.t("gpu.of", { total: m.gib(gpu.memory_total_mib) }) : "");
  setWidth(q(".mem-used-bar"), used);
  setWidth(q(".mem-reserved-bar"), ratio(gpu.memory_reserved_mib, gpu.memory_total_mib));
  setLevel(q(".mem-used-bar"), used > 0.9 ? "bad" : used > 0.75 ? "warn" : "ok");
  setText(
    q(".mem-detail"),
    m.t("gpu.memory_detail", {
      used: m.gib(gpu.memory_used_mib),
      reserved: m.gib(gpu.memory_reserved_mib),
      free: m.gib(gpu.memory_free_mib),
    }),
  )

  const slowdown = gpu.temperature_slowdown_celsius;
  setText(q(".temp-value"), m.celsius(gpu.temperature_celsius));
  setText(q(".temp-limit"), isNum(slowdown) ? m.t("gpu.slowdown", { limit: m.celsius(slowdown) }) : "");
  setWidth(q(".temp-bar"), ratio(gpu.temperature_celsius, slowdown));
  const margin = isNum(slowdown) && isNum(gpu.temperature_celsius) ? slowdown - gpu.temperature_celsius : null;
  setLevel(q(".temp-bar"), margin === null ? "ok" : margin <= 5 ? "bad" : margin <= 10 ? "warn" : "ok");

  setText(q(".power-value"), m.watts(gpu.power_watts));
  setText(q(".power-limit"), isNum(gpu.power_limit_watts) ? m.t("gpu.power_limit", { limit: m.watts(gpu.power_limit_watts) }) : "");
  const power = ratio(gpu.power_watts, gpu.power_limit_watts);
  setWidth(q(".power-bar"), power);
  setLevel(q(".power-bar"), power > 0.95 ? "warn" : "ok");

  const reasons = gpu.clock_event_reasons ?? [];
  reconcile(
    q(".clock-events"),
    reasons.length ? reasons : ["none"],
    (reason) => reason,
    () => document.createElement("span"),
    (chip, reason) => {
      chip.className = "chip";
      setText(chip, m.has(`clock.${reason}`) ? m.t(`clock.${reason}`) : reason.replaceAll("_", " "));
      setLevel(chip, THROTTLE_WARNINGS.has(reason) ? "warn" : "info");
    },
  );
  const reason = q(".health-reason");
  setText(reason, gpu.health_reason ?? "");
  setHidden(reason, !gpu.health_reason);
}

function renderGpus(view) {
  const byHost = new Map();
  for (const gpu of view.gpus) {
    const host = gpu.host ?? "";
    if (!byHost.has(host)) byHost.set(host, []);
    byHost.get(host).push({ gpu, processCount: view.processesOf.get(gpu.key).length });
  }
  const root = $("gpus");
  root.classList.toggle("compact", view.gpus.length >= COMPACT_FROM_GPUS);
  reconcile(
    root,
    [...byHost.entries()],
    ([host]) => host,
    () => fromTemplate("host-group-template"),
    (group, [host, items]) => {
      const heading = group.querySelector(".host-heading");
      setHidden(heading, !view.manyHosts);
      const busy = items.map((i) => i.gpu.utilization_percent).filter(isNum);
      const used = items.reduce((sum, i) => sum + (i.gpu.memory_used_mib ?? 0), 0);
      const total = items.reduce((sum, i) => sum + (i.gpu.memory_total_mib ?? 0), 0);
      const names = [...new Set(items.map((i) => i.gpu.name))].join(", ");
      setText(group.querySelector(".host-name"), host);
      setText(
        group.querySelector(".host-summary"),
        m.t("hosts.summary", {
          count: items.length,
          names,
          busy: m.percent(busy.length ? busy.reduce((a, b) => a + b, 0) / busy.length : null),
          used: m.gib(used),
          total: m.gib(total),
        }),
      );
      reconcile(group.querySelector(".cards"), items, (item) => item.gpu.key, createCard, updateCard);
    },
  );
  setHidden($("no-gpus"), view.gpus.length > 0);
}

function select(key) {
  state.selected = state.selected === key ? null : key;
  renderSnapshot();
}

// --- processes, grouped by GPU ---------------------------------------------------------------

// Through Prometheus a process is an app's share of a GPU, with no PID (0): it is told apart by
// what it is attributed to.
const processKey = (p) => {
  const a = p.attribution ?? {};
  return p.pid ? `p${p.pid}` : `a${[a.app, a.team, a.container_name, a.model, a.engine].join("\u001f")}`;
};

const processColumns = [
  (p) => (p.pid ? String(p.pid) : "–"),
  (p) => p.name ?? "–",
  (p) => (p.attribution?.engine && m.has(`engine.${p.attribution.engine}`) ? m.t(`engine.${p.attribution.engine}`) : p.attribution?.engine ?? "–"),
  (p) => p.attribution?.model ?? "–",
  (p) => p.attribution?.container_name ?? p.attribution?.container_id?.slice(0, 12) ?? "–",
  (p) => p.attribution?.app ?? "–",
  (p) => p.attribution?.team ?? "–",
  (p) => m.gib(p.used_memory_mib),
  (p) => m.percent(p.sm_utilization_percent),
];
const MEMORY_COLUMN = 7;

function createProcessRow(item) {
  if (item.kind === "head") {
    const row = fromTemplate("gpu-group-row-template");
    return row;
  }
  if (item.kind === "more") {
    const row = fromTemplate("more-row-template");
    row.querySelector("button").addEventListener("click", () => {
      const key = row.closest("tbody").dataset.key;
      if (state.expanded.has(key)) state.expanded.delete(key);
      else state.expanded.add(key);
      renderSnapshot();
    });
    return row;
  }
  if (processRow?.language !== m.language) processRow = { language: m.language, row: newProcessRow() };
  const row = processRow.row.cloneNode(true);
  row.labelledIn = m.language;
  return row;
}

// The first process row of a language, whose copies are the others: a cell per column, classed
// as its heading and labelled with it (a narrow screen shows the label beside each cell).
let processRow = null;

function newProcessRow() {
  const row = document.createElement("tr");
  for (const heading of $("processes").tHead.rows[0].cells) {
    const cell = document.createElement("td");
    cell.className = heading.className;
    cell.dataset.label = heading.textContent;
    row.append(cell);
  }
  const value = Object.assign(document.createElement("span"), { className: "memory-value" });
  row.cells[MEMORY_COLUMN].append(value, " ", fromTemplate("reserved-mark-template"));
  return row;
}

function updateProcessRow(row, item) {
  if (item.kind === "head") {
    const { gpu, processes } = item;
    const held = processes.reduce((sum, p) => sum + (p.used_memory_mib ?? 0), 0);
    setText(
      row.querySelector(".group-title"),
      m.t("processes.group", { gpu: gpu.label, name: gpu.name, count: processes.length, memory: m.gib(held) }),
    );
    return;
  }
  if (item.kind === "more") {
    const expanded = state.expanded.has(item.gpu.key);
    setText(row.querySelector("button"), expanded ? m.t("processes.fewer") : m.t("processes.all", { count: item.total }));
    setAttr(row.querySelector("button"), "aria-expanded", String(expanded));
    return;
  }
  const p = item.process;
  row.dataset.pid = String(p.pid);
  const cells = row.cells;
  if (row.labelledIn !== m.language) {
    const headings = $("processes").tHead.rows[0].cells;
    for (let i = 0; i < cells.length; i++) cells[i].dataset.label = headings[i].textContent;
    row.labelledIn = m.language;
  }
  processColumns.forEach((column, i) => {
    if (i !== MEMORY_COLUMN) setText(cells[i], column(p));
  });
  const memory = cells[MEMORY_COLUMN];
  setText(memory.querySelector(".memory-value"), processColumns[MEMORY_COLUMN](p));
  const mark = memory.lastElementChild;
  setHidden(mark, p.reserved_by_engine !== true);
  setText(mark, m.t("processes.reserved"));
  const title = p.attribution?.unattributed_reason ?? p.cmdline ?? "";
  if (row.title !== title) row.title = title;
}

function renderProcesses(view) {
  const shownGpus = view.gpus.filter((gpu) => state.selected === null || gpu.key === state.selected);
  let reserved = false;
  reconcile(
    $("processes"),
    [{ thead: true }, ...shownGpus.map((gpu) => ({ gpu }))], // the head keeps its place: data-key="thead"
    (item) => (item.thead ? "thead" : item.gpu.key),
    () => document.createElement("tbody"),
    (body, item) => {
      if (item.thead) return;
      const processes = view.processesOf.get(item.gpu.key);
      reserved ||= processes.some((p) => p.reserved_by_engine === true);
      const all = state.selected === item.gpu.key || state.expanded.has(item.gpu.key);
      const listed = largest(processes, all ? processes.length : ROWS_PER_GPU);
      const rows = [{ kind: "head", gpu: item.gpu, processes }, ...listed.map((process) => ({ kind: "process", process }))];
      if (processes.length > ROWS_PER_GPU && state.selected !== item.gpu.key) {
        rows.push({ kind: "more", gpu: item.gpu, total: processes.length });
      }
      if (!processes.length) rows.push({ kind: "empty" });
      reconcile(
        body,
        rows,
        (row) => (row.kind === "process" ? processKey(row.process) : row.kind),
        (row) => (row.kind === "empty" ? createEmptyRow() : createProcessRow(row)),
        (node, row) => (row.kind === "empty" ? setText(node.cells[0], m.t("processes.none_on_gpu")) : updateProcessRow(node, row)),
      );
    },
  );
  setHidden($("reserved-note"), !reserved);
  const filtered = view.gpus.find((gpu) => gpu.key === state.selected);
  setHidden($("processes-all"), !filtered);
  setText($("processes-filter"), filtered ? m.t("processes.only", { gpu: filtered.label }) : m.t("processes.every_gpu"));
}

function createEmptyRow() {
  const row = document.createElement("tr");
  const cell = document.createElement("td");
  cell.colSpan = processColumns.length;
  cell.className = "muted";
  row.append(cell);
  return row;
}

// --- memory by app, container or model ------------------------------------------------------

const splitters = {
  app: (p) => p.attribution?.app ?? m.t("memory.unattributed"),
  container: (p) => p.attribution?.container_name ?? p.attribution?.container_id?.slice(0, 12) ?? m.t("memory.no_container"),
  model: (p) => p.attribution?.model ?? m.t("memory.unknown_model"),
};

const memoryChart = chartsAvailable
  ? new Chart("memory-chart", "memory-split", {
      tooltip: { trigger: "item" },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 24, top: 8, bottom: 36, containLabel: true },
      xAxis: { type: "value", axisLabel: { hideOverlap: true } },
      yAxis: { type: "category", inverse: true, data: [] },
      series: [{ type: "bar", stack: "memory", data: [] }],
    })
  : null;

memoryChart?.on("click", (event) => {
  const gpu = state.snapshot && viewOf(state.snapshot).gpus[event.dataIndex];
  if (gpu) select(gpu.key);
});

function renderMemory(view, force) {
  if (!memoryChart) return;
  const split = splitters[state.split];
  const byGroup = new Map();
  const attributed = view.gpus.map(() => 0);
  view.gpus.forEach((gpu, i) => {
    for (const p of view.processesOf.get(gpu.key)) {
      if (!isNum(p.used_memory_mib)) continue;
      const group = split(p);
      if (!byGroup.has(group)) byGroup.set(group, view.gpus.map(() => 0));
      byGroup.get(group)[i] += p.used_memory_mib;
      attributed[i] += p.used_memory_mib;
    }
  });
  const toGib = (mib) => Math.round((mib / 1024) * 100) / 100;
  const bar = (name, data, extra = {}) => ({
    name,
    type: "bar",
    stack: "memory",
    barMaxWidth: 28,
    emphasis: { focus: "series" },
    data: data.map(toGib),
    ...extra,
  });
  const groups = [...byGroup.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)); // no collator to make
  const series = groups.map((group) => bar(group, byGroup.get(group)));
  // Used memory that no listed process accounts for: other users' processes, or none visible.
  const other = view.gpus.map((g, i) => Math.max(0, (g.memory_used_mib ?? 0) - attributed[i]));
  series.push(bar(m.t("memory.not_listed"), other, { itemStyle: { color: COLORS.other } }));
  series.push(bar(m.t("memory.reserved"), view.gpus.map((g) => g.memory_reserved_mib ?? 0), { itemStyle: { color: COLORS.reserved } }));
  series.push(bar(m.t("memory.free"), view.gpus.map((g) => g.memory_free_mib ?? 0), { itemStyle: { color: COLORS.free } }));
  memoryChart.setHeight(`${Math.max(160, 70 + view.gpus.length * (view.gpus.length > 8 ? 18 : 40))}px`);
  const totals = view.gpus.map((g) => g.memory_total_mib).filter(isNum);
  const option = {
    xAxis: { max: totals.length ? Math.ceil(Math.max(...totals) / 1024) : null },
    yAxis: { data: view.gpus.map((g) => g.label) },
    series,
  };
  // Memory changes seldom: the chart is redrawn only when what it shows has changed.
  const shown = JSON.stringify([m.language, option]);
  if (!force && shown === drawnMemory) return;
  drawnMemory = shown;
  option.tooltip = { valueFormatter: (v) => m.gibValue(v) };
  option.xAxis.axisLabel = { formatter: (v) => m.gibValue(v) };
  memoryChart.draw(() => option);
}

let drawnMemory = null;

// --- alerts, and their intervals on the history ---------------------------------------------

const alertKey = (a) => `${a.rule}/${a.host ?? ""}/${a.gpu_uuid ?? ""}/${a.started_at}`;

function rememberAlerts(alerts, seenAt) {
  for (const alert of alerts) state.alerts.set(alertKey(alert), { alert, seenAt });
  for (const [key, { alert, seenAt: seen }] of state.alerts) {
    if ((alert.resolved_at ?? seen) < seenAt - INTERVALS_KEPT_S) state.alerts.delete(key);
  }
}

// Pending from its start until it fired (or was last seen), firing until resolved.
function alertIntervals(view) {
  const uuids = new Set(view.gpus.map((g) => g.uuid));
  const hosts = new Set(view.gpus.map((g) => g.host ?? state.snapshot.host));
  const intervals = [];
  for (const { alert, seenAt } of state.alerts.values()) {
    const onView = alert.gpu_uuid ? uuids.has(alert.gpu_uuid) : hosts.has(alert.host ?? state.snapshot.host);
    if (!onView) continue;
    const end = alert.resolved_at ?? seenAt;
    intervals.push({ state: "pending", from: alert.started_at, to: alert.fired_at ?? end });
    if (alert.fired_at != null) intervals.push({ state: "firing", from: alert.fired_at, to: end });
  }
  return intervals;
}

function renderAlerts(view) {
  const keys = new Set(view.gpus.map((g) => g.uuid));
  const active = state.snapshot.alerts
    .filter((a) => a.state !== "resolved" && (!a.gpu_uuid || keys.has(a.gpu_uuid)))
    .sort((a, b) => (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) || a.started_at - b.started_at);
  reconcile(
    $("alerts"),
    active,
    (a) => `${a.rule}/${a.host ?? ""}/${a.gpu_uuid ?? ""}`,
    () => fromTemplate("alert-template"),
    (item, alert) => {
      const severity = item.querySelector(".severity");
      setText(severity, m.t(`severity.${alert.severity}`));
      setLevel(severity, SEVERITY_LEVEL[alert.severity] ?? "info");
      setText(item.querySelector(".alert-state"), m.t(`alert.${alert.state}`));
      setText(item.querySelector(".alert-message"), alert.message);
      const since = state.snapshot.collected_at - (alert.fired_at ?? alert.started_at);
      setText(item.querySelector(".alert-since"), m.t("alert.since", { duration: m.duration(since) }));
    },
  );
  setHidden($("no-alerts"), active.length > 0);
}

const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };

// --- rendering and the refresh loop ----------------------------------------------------------

// Draws everything from the data held; measured, so the tests can hold it to its budget.
function renderSnapshot({ forceCharts = false } = {}) {
  const snapshot = state.snapshot;
  if (!snapshot || !m) return;
  performance.mark("gpu-insight:render-start");
  const view = viewOf(snapshot);
  renderHeader(snapshot, view);
  renderGpus(view);
  renderProcesses(view);
  renderMemory(view, forceCharts);
  renderAlerts(view);
  history.render({ m, gpus: view.gpus, intervals: alertIntervals(view), force: forceCharts });
  renderFailure();
  performance.measure("gpu-insight:render", "gpu-insight:render-start");
}

let timer = null;
let lastAlertsAt = -Infinity;

async function refresh() {
  clearTimeout(timer);
  try {
    const latest = Date.now() / 1000 + state.clockOffsetS;
    const wantsAlerts = Date.now() - lastAlertsAt > ALERTS_EVERY_MS;
    // The first time, the panels of slower cadence come along, so that the page is drawn
    // once, whole, instead of moving down as they arrive.
    const first = state.snapshot === null;
    const [snapshot, answered, resolved, ...firstPanels] = await Promise.all([
      request(routes.snapshot),
      request(`${routes.history}${query(history.toAsk(latest))}`).catch((error) => error),
      wantsAlerts ? request(`${routes.alerts}${query({ include_resolved: true })}`).catch(() => null) : null,
      ...(first ? duePanels(latest, true).map(askPanel) : []),
    ]);
    state.snapshot = snapshot;
    state.clockOffsetS = snapshot.collected_at - Date.now() / 1000;
    state.failure = null;
    setHidden($("secret-form"), true);
    if (resolved) {
      lastAlertsAt = Date.now();
      rememberAlerts(resolved.alerts, snapshot.collected_at);
    }
    rememberAlerts(snapshot.alerts, snapshot.collected_at);
    const historyFailed = answered instanceof RequestError;
    if (!historyFailed) history.accept(answered);
    setHidden($("history-error"), !historyFailed);
    if (historyFailed) setText($("history-error"), m.t("history.unavailable", { reason: reasonOf(answered) }));
    renderSnapshot({ forceCharts: Boolean(resolved) });
    for (const panel of firstPanels) showPanel(panel);
    if (!first) refreshSlowPanels();
  } catch (error) {
    state.failure = error instanceof RequestError ? error : new RequestError("http", 0, null, String(error));
    renderFailure();
  } finally {
    if (!document.hidden) timer = setTimeout(refresh, REFRESH_MS);
  }
}

// The panels of their own cadence (advice, usage) due now; each is asked for and drawn alone.
const panels = {
  advice: {
    everyMs: ADVICE_EVERY_MS,
    path: () => `${routes.advice}${query({ host: state.snapshot ? viewOf(state.snapshot).host : null })}`,
    render: (answer) => renderAdvice(m, answer),
  },
  usage: {
    everyMs: USAGE_EVERY_MS,
    path: (latest) => `${routes.usage}${query(usage.query(latest))}`,
    render: (report) => usage.render(m, report),
  },
};
const panelAnswers = {}; // name -> the last answer drawn
const panelAskedAt = {};

function duePanels(latest, force) {
  const now = Date.now();
  return Object.entries(panels)
    .filter(([name, panel]) => force || now - (panelAskedAt[name] ?? -Infinity) > panel.everyMs)
    .map(([name, panel]) => {
      panelAskedAt[name] = now;
      return { name, path: panel.path(latest) };
    });
}

async function askPanel({ name, path }) {
  try {
    return { name, answer: await request(path) };
  } catch (error) {
    return { name, error };
  }
}

function refreshSlowPanels(force = false) {
  const latest = Date.now() / 1000 + state.clockOffsetS;
  for (const due of duePanels(latest, force)) askPanel(due).then(showPanel);
}

// A panel's failure is said in the panel; the page's banner is for the snapshot, which fails
// the same way first.
function showPanel({ name, answer, error }) {
  if (error === undefined) {
    panelAnswers[name] = answer;
    setHidden($(`${name}-error`), true);
    performance.mark(`gpu-insight:${name}-start`);
    panels[name].render(answer);
    performance.measure(`gpu-insight:${name}`, `gpu-insight:${name}-start`);
    return;
  }
  const reason = error instanceof RequestError ? reasonOf(error) : String(error);
  const unavailable = error instanceof RequestError && error.status === 404;
  setHidden($(`${name}-error`), false);
  setText($(`${name}-error`), unavailable ? m.t(`${name}.no_route`) : m.t("panel.failed", { reason }));
}

function rerenderPanels() {
  for (const [name, answer] of Object.entries(panelAnswers)) panels[name].render(answer);
}

onThemeChange(() => {
  renderSnapshot({ forceCharts: true });
  rerenderPanels();
});

// --- controls --------------------------------------------------------------------------------

function initControls() {
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });
  window.addEventListener("hashchange", () => {
    rereadSecret();
    history.clear();
    refresh();
  });
  $("secret-form").addEventListener("submit", (event) => {
    event.preventDefault();
    // The fragment stays in the browser; changing it triggers hashchange, which refreshes.
    location.hash = `${routes.secretName}=${encodeURIComponent($("secret-input").value)}`;
  });
  $("split").addEventListener("change", (event) => {
    state.split = event.target.value;
    renderSnapshot();
  });
  $("host-select").addEventListener("change", (event) => {
    state.host = event.target.value || null;
    state.selected = null;
    renderSnapshot({ forceCharts: true });
    refreshSlowPanels(true);
  });
  $("processes-all").addEventListener("click", () => select(state.selected));
  $("history-range").addEventListener("change", (event) => {
    keepChoice("history-range", event.target.value);
    history.setRange(Number(event.target.value));
    refresh();
  });
  for (const input of document.querySelectorAll("input[name=usage-window]")) {
    input.addEventListener("change", () => {
      usage.window = input.value;
      refreshSlowPanels(true);
    });
  }
  for (const input of document.querySelectorAll("input[name=usage-group]")) {
    input.addEventListener("change", () => {
      usage.groupBy = input.value;
      refreshSlowPanels(true);
    });
  }
  $("language").addEventListener("change", async (event) => {
    keepChoice("language", event.target.value);
    await useLanguage(event.target.value);
  });
}

async function useLanguage(language) {
  try {
    m = await loadMessages(language, base);
  } catch (error) {
    if (language === LANGUAGES[0]) throw error;
    m = await loadMessages(LANGUAGES[0], base);
  }
  document.documentElement.lang = m.language;
  document.title = m.t("app.title");
  m.translate(document.body);
  for (const template of document.querySelectorAll("template")) m.translate(template.content);
  fillChoices();
  if (!chartsAvailable) history.showUnavailable(m);
  renderSnapshot({ forceCharts: true });
  rerenderPanels();
  fit.render();
}

function fillChoices() {
  reconcile(
    $("language"),
    LANGUAGES,
    (code) => code,
    () => document.createElement("option"),
    (option, code) => {
      option.value = code;
      option.lang = code;
      setText(option, languageName(code));
    },
  );
  $("language").value = m.language;
  reconcile(
    $("history-range"),
    RANGES_S,
    (seconds) => String(seconds),
    () => document.createElement("option"),
    (option, seconds) => {
      option.value = String(seconds);
      setText(option, m.duration(seconds));
    },
  );
  $("history-range").value = String(history.rangeS);
}

async function start() {
  history.setRange(readChoice("history-range", RANGES_S) ?? RANGES_S[0]);
  await useLanguage(readChoice("language", LANGUAGES) ?? pickLanguage(navigator.languages ?? [navigator.language]));
  initControls();
  refresh();
}

start();
