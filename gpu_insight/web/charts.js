//# allFunctionsCalledOnLoad
// ECharts, set up in one place for every chart: the system's light or dark theme, no animation
// (a 2 s refresh would restart it constantly, and a moving chart reads as flicker), and the size
// its box has, given to ECharts rather than measured by it, so that a chart is drawn without
// laying the page out anew. A chart is made, and drawn, only while its box is in view: one
// below the fold costs nothing until the reader scrolls to it, and is drawn then with what it
// was last asked to show.
"use strict";

import { $ } from "./dom.js";

const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");
const themeName = () => (darkQuery.matches ? "dark" : "default");
const charts = [];
const themeListeners = [];

export const chartsAvailable = typeof window.echarts !== "undefined";

// A new theme drops what the charts drew: they are drawn again by those who fill them.
export function onThemeChange(listener) {
  themeListeners.push(listener);
}

darkQuery.addEventListener("change", () => {
  for (const chart of charts) chart.instance?.setTheme(themeName());
  for (const listener of themeListeners) listener();
});

const SETUP = { backgroundColor: "transparent", animation: false, aria: { enabled: false } };

export class Chart {
  // `name` names its measure (gpu-insight:chart:<name>); `setup` is the option it starts from.
  constructor(id, name, setup) {
    this.box = $(id);
    this.name = name;
    // Tooltips stay inside the box, which clips what a chart drawn at an older size overhangs.
    this.setup = { ...SETUP, ...setup, tooltip: { confine: true, ...setup.tooltip } };
    this.instance = null;
    this.inView = false;
    this.size = null; // {width, height} of the box, from the observers
    this.drawnSize = null;
    this.make = null; // (force) => the option to draw, or null when what is drawn still holds
    this.force = false;
    this.handlers = [];
    charts.push(this);
    seen.observe(this.box);
    sized.observe(this.box);
  }

  on(event, handler) {
    this.handlers.push([event, handler]);
    this.instance?.on(event, handler);
  }

  // Asks for a drawing made by `make` in a frame of its own, once the chart is in view; a later
  // request before that frame replaces this one (`force` is kept until a drawing is made).
  draw(make, force = false) {
    this.make = make;
    this.force ||= force;
    this.box.toggleAttribute("data-pending", true); // what it shows is older than what was asked
    if (this.inView) schedule(this);
  }

  // The box's height is the page's layout: set with the data, not when the chart is drawn.
  setHeight(height) {
    if (this.box.style.height !== height) this.box.style.height = height;
  }

  observed(size, inView) {
    if (size.width > 0 && size.height > 0) this.size = size;
    if (inView !== undefined) this.inView = inView;
    const resized = this.instance && (this.size.width !== this.drawnSize.width || this.size.height !== this.drawnSize.height);
    if (this.inView && (this.make || resized)) schedule(this);
  }

  drawNow() {
    if (!this.size) return;
    const option = this.make?.(this.force) ?? null;
    this.make = null;
    this.force = false;
    this.box.toggleAttribute("data-pending", false);
    const { width, height } = this.size;
    if (!this.instance) {
      this.instance = window.echarts.init(this.box, themeName(), { renderer: "canvas", width, height });
      for (const [event, handler] of this.handlers) this.instance.on(event, handler);
      this.instance.setOption(this.setup, { lazyUpdate: true }); // drawn with the first option
      this.drawnSize = this.size;
    }
    const resized = width !== this.drawnSize.width || height !== this.drawnSize.height;
    if (option) this.instance.setOption(option, { replaceMerge: ["series"], lazyUpdate: resized });
    if (resized) this.instance.resize({ width, height }); // one drawing of both
    this.drawnSize = this.size;
  }
}

const byBox = (entries, each) => {
  for (const entry of entries) each(charts.find((chart) => chart.box === entry.target), entry);
};
const seen = new IntersectionObserver((entries) =>
  byBox(entries, (chart, entry) => {
    const { width, height } = entry.boundingClientRect;
    chart.observed({ width: Math.round(width), height: Math.round(height) }, entry.isIntersecting);
  }),
);
const sized = new ResizeObserver((entries) =>
  byBox(entries, (chart, entry) => {
    const { width, height } = entry.contentRect;
    chart.observed({ width: Math.round(width), height: Math.round(height) });
  }),
);

// Charts in view are drawn in the frames after the one that lays out what asked for them (so
// that whether a chart is in view is known by then), one chart per frame, so that a refresh
// never holds the page for long: the cards and tables are drawn first, each chart after them
// in its own task.
const pending = new Set();
let frameAsked = false;

function schedule(chart) {
  pending.add(chart);
  if (!frameAsked) {
    frameAsked = true;
    requestAnimationFrame(() => requestAnimationFrame(drawNext));
  }
}

function drawNext() {
  frameAsked = false;
  const [chart] = pending;
  if (!chart) return;
  pending.delete(chart);
  // The observer's word may be late (its callbacks wait behind other tasks): the box's place,
  // laid out by now, decides.
  const box = chart.box.getBoundingClientRect();
  chart.inView = box.bottom > 0 && box.top < innerHeight && box.right > 0 && box.left < innerWidth;
  if (box.width > 0 && box.height > 0) chart.size = { width: Math.round(box.width), height: Math.round(box.height) };
  if (chart.inView) {
    performance.mark("gpu-insight:chart-start");
    chart.drawNow();
    performance.measure(`gpu-insight:chart:${chart.name}`, "gpu-insight:chart-start");
  }
  if (pending.size && !frameAsked) {
    frameAsked = true;
    requestAnimationFrame(drawNext);
  }
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
