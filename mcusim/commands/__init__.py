"""Subcommands of the ``mcusim`` command line; each module has ``register(subparsers)``."""

COMMANDS = ("boards", "build", "run", "profile", "kernels", "model", "lut", "search", "demo")
