"""Subcommands of `tunesweep` that need the trainer."""
