"""The GPU Insight collector: NVML sampling, attribution, history, alerts, JSON API, /metrics."""
