"""GPU Insight core: importable without dify_plugin or pynvml."""

__version__ = "0.1.0"
