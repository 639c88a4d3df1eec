"""The ``sdrkit`` command: one entry point with verbs.

Each verb lives in its own module under ``sdrkit/cli/`` and provides
``register(subparsers)``, which adds its parser and sets ``func`` to a function
``run(args) -> int``. Verb modules import heavy libraries inside ``run`` so that
``sdrkit --help`` stays fast. Task verbs (``dataset``, ``train``, ``evaluate``, ``calibrate``,
...) are not modules here: they are built from the tasks' declarations (:mod:`sdrkit.cli._tasks`).

:func:`main` catches :class:`~sdrkit.errors.SdrkitError`, prints ``Type: message`` to
stderr and returns 1, so tests call ``main([...])`` directly.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys

from sdrkit.errors import SdrkitError

# verb modules, in the order `sdrkit --help` lists them; TASK_VERBS marks where the task verbs go
TASK_VERBS = "<task verbs>"
VERB_MODULES = [
    "demo", "info", "synth", "capture", "replay", "spectrogram", "profiles",
    TASK_VERBS, "classify", "deliver", "card", "stream", "emulate", "devices", "rig", "bench",
]


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors say "did you mean" for a mistyped option or verb."""

    argv: list[str] = []

    def error(self, message):
        import re

        from sdrkit.cli._common import did_you_mean

        hint = ""
        m = re.search(r"unrecognized arguments: (.*)", message)
        if m:
            known = _option_strings(self, self.argv)
            for word in m.group(1).split():
                if word.startswith("-"):
                    hint += did_you_mean(word.partition("=")[0], known)
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            hint += did_you_mean(m.group(1), re.findall(r"'([^']*)'", m.group(2)))
        super().error(message + hint)


def _option_strings(parser, argv) -> list[str]:
    """The option strings of the (sub)parser ``argv`` selects, and of the ones above it."""
    found = list(parser._option_string_actions)
    p = parser
    for word in argv:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or word not in subs[0].choices:
            continue
        p = subs[0].choices[word]
        found += list(p._option_string_actions)
    return found


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every verb module that is present."""
    from sdrkit import __version__

    parser = Parser(
        prog="sdrkit",
        description="Hardware-in-the-loop SDR toolkit: radios -> I/Q -> models -> decisions.",
    )
    parser.add_argument("--version", action="version", version=f"sdrkit {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        if name == TASK_VERBS:
            from sdrkit.cli._tasks import register_task_verbs

            register_task_verbs(sub)
        else:
            importlib.import_module(f"sdrkit.cli.{name}").register(sub)
    return parser


def _task_flag_to_positional(argv: list[str], task_verbs) -> list[str]:
    """``sdrkit VERB --task NAME ...`` (the older spelling) -> ``sdrkit VERB NAME ...``."""
    if len(argv) >= 3 and argv[0] in task_verbs and "--task" in argv[1:-1]:
        i = argv.index("--task")
        return [argv[0], argv[i + 1]] + argv[1:i] + argv[i + 2:]
    return argv


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    from sdrkit.cli._tasks import task_verbs

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    argv = _task_flag_to_positional(argv, task_verbs())
    Parser.argv = argv
    args = parser.parse_args(argv)
    args.command_line = "sdrkit " + " ".join(shlex.quote(a) for a in argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = int(args.func(args) or 0)
        sys.stdout.flush()           # a closed pipe shows here, inside the handler below
        return rc
    except SdrkitError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`sdrkit ... | head`): stop quietly, as other command-line tools do
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
