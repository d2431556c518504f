#!/usr/bin/env bash
# Takes ECharts from the npm registry (pinned by package-lock.json) and bundles it next to the
# dashboard, so the page needs no CDN at run time (Dify is often air-gapped).
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --silent
mkdir -p gpu_insight/web/static
cp node_modules/echarts/dist/echarts.min.js gpu_insight/web/static/echarts.min.js
