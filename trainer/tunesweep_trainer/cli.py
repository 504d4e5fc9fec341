"""The trainer's `tunesweep` subcommands: `train` (one trial), `run` (a local sweep), `drive` (the driver)."""

from __future__ import annotations

import argparse

from .commands import drive, run, train


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for module in (train, run, drive):
        module.add_parser(subparsers)
