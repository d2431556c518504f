"""Part of a load generator shaped like vLLM (see vllm/entrypoints/openai/api_server.py)."""
