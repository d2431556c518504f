// Utilization and memory over time, one line per GPU, with alert intervals (pending, firing)
// drawn behind the lines. The window is fetched once, then only its newest part; points are
// averaged into at most POINTS_SHOWN steps of the window, so a day costs what 15 minutes do.
"use strict";

import { $, setText } from "./dom.js";
import { COLORS, axisTooltip, chartsAvailable, makeChart, scheduleDraw } from "./charts.js";

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
      this.util = makeChart("util-chart", this.timeOption());
      this.memory = makeChart("memhist-chart", this.timeOption());
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
    this.drawnSteps = null;
  }

  get stepS() {
    return Math.max(this.rangeS / POINTS_SHOWN, this.resolutionS ?? 1);
  }

  // The `seconds` to ask for next: the whole window first, then what is new plus an overlap
  // that covers the collector's newest bucket, which may still be filling.
  secondsToAsk(latestT) {
    this.mergeAnswers();
    if (this.toT === null) return this.rangeS;
    const overlap = Math.max(OVERLAP_S, this.resolutionS ?? 0);
    return Math.max(1, Math.min(this.rangeS, Math.ceil(latestT - this.toT) + overlap));
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

  // Redraws when something shown changed: a new step of the window, or the lines, alerts or
  // labels (`force`). A day-long window thus redraws every few minutes, not every refresh.
  render(view) {
    if (this.util) scheduleDraw("history", () => this.draw(view));
  }

  draw({ m, gpus, intervals, force }) {
    this.mergeAnswers();
    if (this.toT === null) return;
    const steps = Math.floor(this.toT / this.stepS);
    if (!force && steps === this.drawnSteps) return;
    this.drawnSteps = steps;
    const stepS = this.stepS;
    const shown = gpus.filter((gpu) => this.lines.has(gpu.uuid));
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
    const option = (field, formatValue, yMax) => {
      const lines = shown.map((gpu) => ({
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
      return {
        tooltip: { formatter: axisTooltip((t) => m.time(t), formatValue) },
        xAxis,
        yAxis: { max: yMax, axisLabel: { formatter: formatValue } },
        series: lines,
      };
    };
    const totals = gpus.map((g) => g.memory_total_mib).filter((v) => typeof v === "number");
    const utilOption = option("util", (v) => m.percent(v), 100);
    const memoryOption = option(
      "memory",
      (v) => m.gibValue(v),
      totals.length ? Math.ceil(Math.max(...totals) / 1024) : null,
    );
    this.util.setOption(utilOption, { replaceMerge: ["series"] });
    scheduleDraw("memory-history", () => this.memory.setOption(memoryOption, { replaceMerge: ["series"] }));
  }

  showUnavailable(m) {
    for (const id of ["util-chart", "memhist-chart"]) {
      setText($(id), m.t("charts.unavailable"));
      $(id).classList.add("muted");
    }
  }
}
