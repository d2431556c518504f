// ECharts, set up once per chart: the system's light or dark theme, resized with its box, no
// animation (a 2 s refresh would restart it constantly, and a moving chart reads as flicker).
// Each chart starts with an empty series of the type it will draw, so the library's code for
// it is ready before the first data arrives.
"use strict";

import { $ } from "./dom.js";

const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");
const themeName = () => (darkQuery.matches ? "dark" : "default");
const charts = new Set();
const themeListeners = [];

export const chartsAvailable = typeof window.echarts !== "undefined";

// A new theme drops what the charts drew: they are drawn again by those who fill them.
export function onThemeChange(listener) {
  themeListeners.push(listener);
}

darkQuery.addEventListener("change", () => {
  for (const chart of charts) chart.setTheme(themeName());
  for (const listener of themeListeners) listener();
});

export function makeChart(id, option) {
  const box = $(id);
  const chart = window.echarts.init(box, themeName(), { renderer: "canvas" });
  // A resize redraws the whole chart: only when the box really changed size.
  new ResizeObserver(() => {
    if (box.clientWidth !== chart.getWidth() || box.clientHeight !== chart.getHeight()) chart.resize();
  }).observe(box);
  chart.setOption({ backgroundColor: "transparent", animation: false, aria: { enabled: false }, ...option });
  charts.add(chart);
  return chart;
}

// Chart redraws wait for the next frames, one chart per frame, so that a refresh never holds
// the page for long: the cards and tables are drawn first, each chart after them in its own
// task. A chart asked for twice before its turn is drawn once, with the later request.
const pending = new Map(); // chart name -> draw
let frameAsked = false;

export function scheduleDraw(name, draw) {
  pending.set(name, draw);
  if (!frameAsked) {
    frameAsked = true;
    requestAnimationFrame(drawNext);
  }
}

function drawNext() {
  frameAsked = false;
  const next = pending.entries().next();
  if (next.done) return;
  const [name, draw] = next.value;
  pending.delete(name);
  performance.mark("gpu-insight:chart-start");
  draw();
  performance.measure(`gpu-insight:chart:${name}`, "gpu-insight:chart-start");
  if (pending.size && !frameAsked) {
    frameAsked = true;
    requestAnimationFrame(drawNext);
  }
}

// Sets a chart's option and, when its box must change height, both in one redraw.
export function drawAt(chart, box, height, option) {
  if (box.style.height === height) {
    chart.setOption(option, { replaceMerge: ["series"] });
    return;
  }
  box.style.height = height;
  chart.setOption(option, { replaceMerge: ["series"], lazyUpdate: true });
  chart.resize();
}

export const escapeHtml = (text) => window.echarts.format.encodeHTML(String(text));

// A tooltip of one instant: its time, then one line per series with its colour mark.
export function axisTooltip(timeText, formatValue) {
  return (items) => {
    const list = Array.isArray(items) ? items : [items];
    if (!list.length) return "";
    const lines = list.map(
      (item) => `${item.marker}${escapeHtml(item.seriesName)} <b>${escapeHtml(formatValue(item.value[1]))}</b>`,
    );
    return [escapeHtml(timeText(list[0].value[0] / 1000)), ...lines].join("<br>");
  };
}

// Series colours that carry meaning beyond a group's name.
export const COLORS = {
  other: "#8a8a8a",
  reserved: "#b59f74",
  free: "rgba(128,128,128,0.18)",
  pending: "rgba(230,162,60,0.20)",
  firing: "rgba(240,101,101,0.25)",
};
