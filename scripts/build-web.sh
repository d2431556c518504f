#!/usr/bin/env bash
# Takes ECharts and axe-core from the npm registry (pinned by package-lock.json). ECharts is
# bundled next to the dashboard, so the page needs no CDN at run time (Dify is often
# air-gapped): its common build (line and bar charts, tooltip, legend, mark areas, the dark
# theme: all the page draws, two thirds of the full build's weight), headed by the compile hint
# the page's modules carry too (see gpu_insight/web/__init__.py). axe-core goes beside the
# browser tests only, which inject it into the page.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --silent
mkdir -p gpu_insight/web/static tests/web/static
{ echo "//# allFunctionsCalledOnLoad"; cat node_modules/echarts/dist/echarts.common.min.js; } \
  >gpu_insight/web/static/echarts.min.js
cp node_modules/axe-core/axe.min.js tests/web/static/axe.min.js
