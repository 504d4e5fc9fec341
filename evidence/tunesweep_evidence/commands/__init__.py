"""Subcommands of `tunesweep` that need only the evidence package."""
