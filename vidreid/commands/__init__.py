"""Subcommands of the `vidreid` CLI (one module each)."""
