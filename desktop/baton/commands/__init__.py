"""Subcommands of the ``baton`` CLI. Each module has ``register(subparsers)``; its handlers take
``(args, ctx)`` and return an exit code. Add a module's name here when you add the module."""

COMMAND_MODULES: tuple[str, ...] = (
    "ask",
    "retry",
    "models",
    "gui",
    "threads",
    "energy",
    "endpoints",
    "keys",
    "config",
    "serve",
    "bench",
)
