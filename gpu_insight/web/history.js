//# allFunctionsCalledOnLoad
// Utilization and memory over time, one line per GPU, with alert intervals (pending, firing)
// drawn behind the lines. The window is fetched once, then only its newest part, in at most
// POINTS_SHOWN steps of the window (the collector averages them: a day costs what 15 minutes
// do, on the wire and here; points of a source that sends finer ones are averaged here).
"use strict";

import { $, setText } from "./dom.js";
import { COLORS, Chart, axisTooltip, chartsAvailable } from "./charts.js";

export const RANGES_S = [900, 3600, 86400];
const POINTS_SHOWN = 300; // about one per two pixels of a half-width chart
const OVERLAP_S = 5;

// One GPU's line: the closed steps, and the raw points of the step still filling.
class Line {
  constructor() {
    this.util = []; // [[ms, percent]]
    this.memory = []; // [[ms, GiB]]
    this.open = []; // raw points of the filling step: {t, r (its resolution: the weight), util, memory}
    this.openStep = null;
  }

  add(points, resolutionS, stepS) {
    if (!points.length) return;
    // A newer answer replaces what it covers: an overlap, or the collector's filling bucket.
    const first = points[0].t;
    this.open = this.open.filter((raw) => raw.t + raw.r <= first);
    for (const p of points) {
      const step = Math.floor(p.t / stepS);
      if (this.openStep !== null && step < this.openStep) continue; // already closed
      if (this.openStep === null || step > this.openStep) {
        this.close(stepS);
        this.openStep = step;
      }
      this.open.push({ t: p.t, r: resolutionS, util: p.utilization_percent, memory: p.memory_used_mib });
    }
  }

  close(stepS) {
    if (!this.open.length) return;
    const [util, memory] = this.means();
    const ms = this.openStep * stepS * 1000;
    this.util.push([ms, util]);
    this.memory.push([ms, memory === null ? null : memory / 1024]);
    this.open = [];
  }

  // Time-weighted means of the filling step: [utilization %, memory MiB].
  means() {
    let util = 0;
    let utilWeight = 0;
    let memory = 0;
    let memoryWeight = 0;
    for (const raw of this.open) {
      if (raw.util != null) {
        util += raw.util * raw.r;
        utilWeight += raw.r;
      }
      if (raw.memory != null) {
        memory += raw.memory * raw.r;
        memoryWeight += raw.r;
      }
    }
    return [utilWeight ? util / utilWeight : null, memoryWeight ? memory / memoryWeight : null];
  }

  trim(cutoffMs) {
    for (const line of [this.util, this.memory]) {
      const firstKept = line.findIndex((point) => point[0] >= cutoffMs);
      line.splice(0, firstKept === -1 ? line.length : firstKept);
    }
  }

  data(field, stepS) {
    if (!this.open.length) return this[field];
    const [util, memory] = this.means();
    const ms = this.openStep * stepS * 1000;
    return [...this[field], field === "util" ? [ms, util] : [ms, memory === null ? null : memory / 1024]];
  }
}

export class HistoryCharts {
  constructor() {
    this.rangeS = RANGES_S[0];
    this.clear();
    if (chartsAvailable) {
      this.util = new Chart("util-chart", "utilization-history", this.timeOption());
      this.memory = new Chart("memhist-chart", "memory-history", this.timeOption());
    }
  }

  timeOption() {
    return {
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 16, top: 12, bottom: 36, containLabel: true },
      xAxis: { type: "time", axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", min: 0 },
      series: [{ type: "line", showSymbol: false, data: [], markArea: { silent: true, data: [] } }],
    };
  }

  setRange(seconds) {
    this.rangeS = seconds;
    this.clear();
  }

  clear() {
    this.lines = new Map(); // gpu uuid -> Line
    this.answers = []; // answers not merged yet: merged when the charts are drawn
    this.toT = null;
    this.resolutionS = null;
    this.drawnSteps = {}; // field -> the steps of the window its chart shows
  }

  get stepS() {
    return Math.max(this.rangeS / POINTS_SHOWN, this.resolutionS ?? 1);
  }

  // What to ask /history for next: the whole window first, then what is new plus an overlap
  // that covers the collector's newest step, which may still be filling; in the chart's steps.
  toAsk(latestT) {
    this.mergeAnswers();
    const step_s = Math.ceil(this.rangeS / POINTS_SHOWN);
    if (this.toT === null) return { seconds: this.rangeS, step_s };
    const overlap = Math.max(OVERLAP_S, this.resolutionS ?? 0);
    return { seconds: Math.max(1, Math.min(this.rangeS, Math.ceil(latestT - this.toT) + overlap)), step_s };
  }

  // Keeps an answer of /history; its points are merged in the chart's own frame, not while
  // the page's data is drawn.
  accept(history) {
    this.answers.push(history);
  }

  mergeAnswers() {
    for (const answer of this.answers.splice(0)) this.merge(answer);
  }

  merge(history) {
    if (this.resolutionS === null) this.resolutionS = history.resolution_s;
    const cutoffMs = (history.to_t - this.rangeS) * 1000;
    for (const gpu of history.gpus) {
      const line = this.lines.get(gpu.gpu_uuid) ?? new Line();
      line.add(gpu.points, history.resolution_s, this.stepS);
      line.trim(cutoffMs);
      this.lines.set(gpu.gpu_uuid, line);
    }
    this.toT = history.to_t;
  }

  // Each chart is redrawn when something it shows changed: a new step of the window, or the
  // lines, alerts or labels (`force`). A day-long window thus redraws every few minutes, not
  // every refresh.
  render(view) {
    if (!this.util) return;
    this.util.draw((force) => this.option("util", view, force), view.force);
    this.memory.draw((force) => this.option("memory", view, force), view.force);
  }

  option(field, { m, gpus, intervals }, force) {
    this.mergeAnswers();
    if (this.toT === null) return null;
    const steps = Math.floor(this.toT / this.stepS);
    if (!force && steps === this.drawnSteps[field]) return null;
    this.drawnSteps[field] = steps;
    const stepS = this.stepS;
    const xAxis = {
      min: (this.toT - this.rangeS) * 1000,
      max: this.toT * 1000,
      axisLabel: { formatter: (ms) => m.clock(ms / 1000) },
    };
    const areas = intervals
      .filter((i) => i.to * 1000 >= xAxis.min)
      .map((i) => [
        { xAxis: Math.max(i.from * 1000, xAxis.min), itemStyle: { color: COLORS[i.state] } },
        { xAxis: Math.min(i.to * 1000, xAxis.max) },
      ]);
    const lines = gpus
      .filter((gpu) => this.lines.has(gpu.uuid))
      .map((gpu) => ({
        name: gpu.label,
        type: "line",
        showSymbol: false,
        connectNulls: false,
        data: this.lines.get(gpu.uuid).data(field, stepS),
      }));
    lines.push({
      name: m.t("history.alerts"),
      type: "line",
      data: [],
      itemStyle: { color: COLORS.firing },
      markArea: { silent: true, data: areas },
    });
    const totals = gpus.map((g) => g.memory_total_mib).filter((v) => typeof v === "number");
    const [formatValue, yMax] =
      field === "util"
        ? [(v) => m.percent(v), 100]
        : [(v) => m.gibValue(v), totals.length ? Math.ceil(Math.max(...totals) / 1024) : null];
    return {
      tooltip: { formatter: axisTooltip((t) => m.time(t), formatValue) },
      xAxis,
      yAxis: { max: yMax, axisLabel: { formatter: formatValue } },
      series: lines,
    };
  }

  showUnavailable(m) {
    for (const id of ["util-chart", "memhist-chart"]) {
      setText($(id), m.t("charts.unavailable"));
      $(id).classList.add("muted");
    }
  }
}
