"""Serving-engine metrics: scrape vLLM, SGLang, TGI, Ollama and configured targets."""

from gpu_insight.collector.engines.scraper import EngineScraper

__all__ = ["EngineScraper"]
