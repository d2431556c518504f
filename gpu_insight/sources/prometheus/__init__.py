"""The plugin's Prometheus source: PromQL over our collectors' series or dcgm-exporter's."""
