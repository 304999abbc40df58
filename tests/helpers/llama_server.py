"""llama-cpp-python's own OpenAI-compatible server on loopback, for tests that need a real remote tier: the
benchmarks' launcher (``baton.bench.llama_server``), which runs the default model (SmolLM2-135M) unless told
otherwise and sends one warm-up completion before yielding.

    with llama_server() as srv:
        srv.base_url  # "http://127.0.0.1:PORT/v1"
"""

from __future__ import annotations

from baton.bench.llama_server import SERVER_MODULES, LlamaServer, free_port, llama_server, missing_server_modules

__all__ = ["SERVER_MODULES", "LlamaServer", "free_port", "llama_server", "missing_server_modules"]
