//# allFunctionsCalledOnLoad
// Cost and usage per app or team: GPU-hours (busy time), idle-but-held time (memory held on a
// GPU at most 5 % busy), energy and cost, as stacked bars per hour (24 h) or per day (7 d).
"use strict";

import { $, isNum, reconcile, setHidden, setText } from "./dom.js";
import { Chart, chartsAvailable, escapeHtml } from "./charts.js";

const HOUR_S = 3600;
const TOP_GROUPS = 7; // more groups are added up as "other", so the chart stays readable
const SECONDS_PER_HOUR = 3600;

// The steps of each window, in the reader's time zone: hours ending now, or days from local
// midnight (a day with a daylight-saving change is an hour off at its end).
export const WINDOWS = {
  "24h": (now) => {
    const hour = Math.floor(now / HOUR_S) * HOUR_S;
    return { from: hour - 23 * HOUR_S, bucketS: HOUR_S };
  },
  "7d": (now) => {
    const midnight = new Date(now * 1000);
    midnight.setHours(0, 0, 0, 0);
    midnight.setDate(midnight.getDate() - 6);
    return { from: midnight.getTime() / 1000, bucketS: 24 * HOUR_S };
  },
};

const hours = (seconds) => (isNum(seconds) ? seconds / SECONDS_PER_HOUR : null);

export class UsagePanel {
  constructor(server) {
    this.server = server;
    this.window = "24h";
    this.groupBy = "app";
    this.report = null;
    if (chartsAvailable) {
      this.chart = new Chart("usage-chart", "usage", {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        legend: { type: "scroll", bottom: 0 },
        grid: { left: 8, right: 16, top: 30, bottom: 36, containLabel: true }, // the axis name above
        xAxis: { type: "category", data: [] },
        yAxis: { type: "value", min: 0 },
        series: [{ type: "bar", stack: "busy", data: [] }],
      });
    }
  }

  query(now) {
    const { from, bucketS } = WINDOWS[this.window](now);
    return { from: Math.round(from), to: Math.ceil(now), group_by: this.groupBy, bucket_s: bucketS };
  }

  render(m, report) {
    this.report = report;
    const price = isNum(report.price_per_gpu_hour) ? report.price_per_gpu_hour : null;
    const rows = report.rows;
    const busyH = rows.reduce((sum, r) => sum + r.gpu_hours, 0);
    const idleH = rows.reduce((sum, r) => sum + (hours(r.idle_held_gpu_seconds) ?? 0), 0);
    const energyKwh = rows.reduce((sum, r) => sum + r.energy_joules / 3.6e6, 0);
    setText($("usage-busy"), m.gpuHours(busyH));
    const heldShare = busyH + idleH > 0 ? (100 * idleH) / (busyH + idleH) : null;
    setText($("usage-idle"), m.t("usage.idle_value", { hours: m.gpuHours(idleH), share: m.percent(heldShare) }));
    setText($("usage-energy"), m.kwh(energyKwh));
    setText($("usage-cost"), price === null ? m.t("usage.no_price") : m.amount(busyH * price));
    setHidden($("usage-set-price"), price !== null);
    setText($("usage-set-price"), m.t(`usage.set_price_${this.server}`));
    setText(
      $("usage-price"),
      price === null ? "" : m.t("usage.price_note", { price: m.amount(price) }),
    );
    setHidden($("usage-empty"), rows.length > 0);
    this.renderTable(m, rows, price);
    this.renderChart(m, report);
  }

  renderTable(m, rows, price) {
    setText($("usage-group-heading"), m.t(`usage.group.${this.groupBy}`));
    reconcile(
      $("usage-table").tBodies[0],
      rows,
      (row) => row.group,
      () => {
        const tr = document.createElement("tr");
        const header = document.createElement("th");
        header.scope = "row";
        tr.append(header);
        for (let i = 0; i < 4; i++) tr.append(Object.assign(document.createElement("td"), { className: "num" }));
        return tr;
      },
      (tr, row) => {
        const idle = hours(row.idle_held_gpu_seconds);
        const cells = [
          row.group === "unattributed" ? m.t("usage.unattributed") : row.group,
          m.gpuHours(row.gpu_hours),
          idle === null ? "–" : m.gpuHours(idle),
          m.kwh(row.energy_joules / 3.6e6),
          price === null ? "–" : m.amount(row.gpu_hours * price),
        ];
        cells.forEach((text, i) => setText(tr.cells[i], text));
        const headings = $("usage-table").tHead.rows[0].cells;
        [...tr.cells].forEach((cell, i) => {
          if (cell.dataset.label !== headings[i].textContent) cell.dataset.label = headings[i].textContent;
        });
      },
    );
  }

  renderChart(m, report) {
    if (!this.chart) return;
    const steps = report.buckets;
    const label = (t) => (this.window === "24h" ? m.clock(t) : m.day(t));
    const ranked = [...report.rows]
      .sort((a, b) => b.gpu_seconds + (b.idle_held_gpu_seconds ?? 0) - (a.gpu_seconds + (a.idle_held_gpu_seconds ?? 0)))
      .map((r) => r.group);
    const shown = ranked.slice(0, TOP_GROUPS);
    const other = m.t("usage.other");
    const nameOf = (group) => {
      if (!shown.includes(group)) return other;
      return group === "unattributed" ? m.t("usage.unattributed") : group;
    };
    const names = [...new Set(ranked.map(nameOf))];
    const amounts = (field) => {
      const table = new Map(names.map((name) => [name, steps.map(() => 0)]));
      steps.forEach((step, i) => {
        for (const row of step.rows) table.get(nameOf(row.group))[i] += hours(row[field]) ?? 0;
      });
      return table;
    };
    const busy = amounts("gpu_seconds");
    const idle = amounts("idle_held_gpu_seconds");
    // A group's two series share its name, so they share its colour and its legend entry. The
    // idle share is striped across (a slanted pattern costs ECharts a fifth more to draw first).
    const series = names.flatMap((name) => [
      { name, type: "bar", stack: "busy", barMaxWidth: 26, data: busy.get(name) },
      {
        name,
        type: "bar",
        stack: "idle",
        barMaxWidth: 26,
        itemStyle: { opacity: 0.5, decal: { symbol: "rect", dashArrayX: [1, 0], dashArrayY: [2, 3] } },
        data: idle.get(name),
      },
    ]);
    const stackName = { busy: m.t("usage.key.busy"), idle: m.t("usage.key.idle") };
    const option = {
        tooltip: {
          formatter: (items) => {
            const list = Array.isArray(items) ? items : [items];
            const lines = list
              .filter((item) => item.value > 0)
              .map(
                (item) =>
                  `${item.marker}${escapeHtml(item.seriesName)} · ${escapeHtml(stackName[item.seriesIndex % 2 ? "idle" : "busy"])} <b>${escapeHtml(m.gpuHours(item.value))}</b>`,
              );
            return [escapeHtml(list.length ? list[0].name : ""), ...lines].join("<br>");
          },
        },
        xAxis: { data: steps.map((step) => label(step.from_t)) },
        yAxis: { axisLabel: { formatter: (v) => m.amount(v) }, name: m.t("unit.gpu_hours_axis"), nameTextStyle: { align: "left" } },
        series,
      };
    this.chart.draw(() => option);
  }
}
