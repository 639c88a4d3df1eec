"""The ``sdrkit`` command: one entry point with verbs.

Each verb lives in its own module under ``sdrkit/cli/`` and provides
``register(subparsers)``, which adds its parser and sets ``func`` to a function
``run(args) -> int``. Verb modules import heavy libraries inside ``run`` so that
``sdrkit --help`` stays fast.

:func:`main` catches :class:`~sdrkit.errors.SdrkitError`, prints ``Type: message`` to
stderr and returns 1, so tests call ``main([...])`` directly.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys

from sdrkit.errors import SdrkitError

# verb modules, in the order `sdrkit --help` lists them
VERB_MODULES = [
    "demo", "info", "synth", "capture", "replay", "spectrogram", "profiles",
    "dataset", "train", "evaluate", "calibrate_threshold", "calibrate", "classify",
    "stream", "emulate", "devices", "rig", "bench",
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every verb module that is present."""
    from sdrkit import __version__

    parser = argparse.ArgumentParser(
        prog="sdrkit",
        description="Hardware-in-the-loop SDR toolkit: radios -> I/Q -> models -> decisions.",
    )
    parser.add_argument("--version", action="version", version=f"sdrkit {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        try:
            mod = importlib.import_module(f"sdrkit.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"sdrkit.cli.{name}":
                continue  # verb not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.command_line = "sdrkit " + " ".join(shlex.quote(a) for a in argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SdrkitError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
