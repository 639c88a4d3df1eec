"""The task contract: what a task declares, and all that the CLI and the live pipeline see of it.

A task is a :class:`Task` registered in :data:`sdrkit.tasks.TASKS`. It declares

* its **verbs as data**: a :class:`Verb` per command (``dataset``, ``train``, ``evaluate``,
  ``calibrate``, ...), each with a help line, a frozen dataclass of settings whose fields
  (made with :func:`option`) are the command's arguments, and a run function taking that
  typed config. ``sdrkit <verb> <task> ...`` is built from these declarations; nothing in
  ``sdrkit/cli/`` names a task;
* optionally a **live predictor**: ``predictor(card, options) -> Predictor`` whose
  ``predict(frames)`` returns a :class:`~sdrkit.runtime.predict.Prediction`. ``sdrkit
  classify --model CARD`` looks the task up from the card and runs its predictor in the one
  pipeline (:mod:`sdrkit.stream.pipeline`);
* a **smoke run** (:class:`SmokeRun`): the smallest dataset -> train -> evaluate sequence
  that exercises every verb, which the contract tests run for every registered task.

A config dataclass example::

    @dataclass(frozen=True)
    class TrainConfig:
        data: str = option("data/amc", help="data set folder")
        epochs: int = option(8, help="passes over the training split")
        method: str = option("joint", choices=("joint", "per-branch"), help="...")
        quick: bool = option(False, help="...")               # a flag: --quick
        command_line: str = option("", cli=False)             # filled in by the CLI

Run functions may be given as ``"module:function"`` strings, imported when the verb runs,
so that ``sdrkit --help`` imports no torch.
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from dataclasses import MISSING, dataclass, field
from typing import Any, Callable

from sdrkit.errors import ConfigError

#: the order ``sdrkit --help`` lists task verbs in; a verb not listed here comes after, by name
VERB_ORDER = ("dataset", "train", "calibrate-threshold", "evaluate", "calibrate")


def option(default: Any = MISSING, *, help: str = "", choices=None, metavar: str | None = None,
           cli: bool = True, flag: str | None = None):
    """A config field that is also a command-line argument (``--name-with-dashes``).

    Args:
        default: the default (no default: the argument is required).
        help: the argument's help line.
        choices: allowed values.
        metavar: shown in the help.
        cli: False for fields filled by the caller, not the user (``command_line``).
        flag: the option string, when not derived from the field name.
    """
    meta = {"help": help, "choices": choices, "metavar": metavar, "cli": cli, "flag": flag}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Verb:
    """One command of a task.

    Attributes:
        name: the CLI verb (``dataset``, ``train``, ``calibrate-threshold``, ...).
        help: one line.
        config: a frozen dataclass; its :func:`option` fields are the arguments.
        run: ``run(config) -> int`` exit code, or ``"module:function"``.
    """

    name: str
    help: str
    config: type
    run: Callable[[Any], int] | str

    def function(self) -> Callable[[Any], int]:
        if isinstance(self.run, str):
            mod, _, attr = self.run.partition(":")
            return getattr(importlib.import_module(mod), attr)
        return self.run

    def __call__(self, cfg) -> int:
        return int(self.function()(cfg) or 0)

    def make_config(self, **values):
        """A config from keyword values (defaults for the rest); unknown names are refused.

        Raises:
            ConfigError: a name that is not a field of the config, or a required one missing.
        """
        names = {f.name for f in dataclasses.fields(self.config)}
        unknown = set(values) - names
        if unknown:
            raise ConfigError(f"verb {self.name!r}: unknown setting(s) {sorted(unknown)}; known: {sorted(names)}")
        try:
            return self.config(**values)
        except TypeError as exc:
            raise ConfigError(f"verb {self.name!r}: {exc}") from exc


@dataclass(frozen=True)
class SmokeRun:
    """The smallest full run of a task, for the contract tests.

    Attributes:
        steps: ``(verb, settings)`` in order; ``{tmp}`` in a string value is the test's folder.
        card: the card the steps produce (``{tmp}`` allowed).
        stream: a ``sim:`` radio URI matching that card (``{tmp}`` allowed), for the live check.
        calibration: the calibration file the steps produce, when the predictor needs one.
    """

    steps: tuple
    card: str
    stream: str
    calibration: str | None = None


class Task:
    """Base class of a task; a subclass sets :attr:`name`, :attr:`summary`, :attr:`verbs`."""

    name: str = ""
    summary: str = ""
    verbs: tuple = ()
    smoke: SmokeRun | None = None
    #: modules that register the task's ``sdrkit bench`` benchmarks
    benchmarks: tuple = ()

    def verb(self, name: str) -> Verb:
        """The verb called ``name``.

        Raises:
            ConfigError: the task has no such verb (the message lists its verbs).
        """
        for v in self.verbs:
            if v.name == name:
                return v
        raise ConfigError(f"task {self.name!r} has no verb {name!r}; it has: {', '.join(v.name for v in self.verbs)}")

    @property
    def live(self) -> bool:
        """Whether the task runs live (overrides :meth:`predictor`)."""
        return type(self).predictor is not Task.predictor

    def predictor(self, card, options):
        """A live predictor for ``card``.

        Raises:
            ConfigError: the task has no live predictor.
        """
        raise ConfigError(f"task {self.name!r} has no live predictor; its model cannot run in 'sdrkit classify'")

    def refuse_options(self, options, allowed: tuple = ()) -> None:
        """Refuse every predictor option that is set and not in ``allowed`` (no silent ignoring).

        Raises:
            ConfigError: naming the option and the task.
        """
        for f in dataclasses.fields(options):
            if f.name in allowed or f.name == "threads":
                continue
            if getattr(options, f.name) not in (None, f.default):
                raise ConfigError(f"task {self.name!r} has no use for --{f.name.replace('_', '-')} "
                                  f"({getattr(options, f.name)!r}); drop it")


def config_fields(config: type) -> list[tuple[dataclasses.Field, type]]:
    """``(field, resolved type)`` of a config dataclass, in declaration order."""
    hints = typing.get_type_hints(config)
    return [(f, hints[f.name]) for f in dataclasses.fields(config)]


def add_config_arguments(parser, config: type) -> None:
    """Add one argparse argument per CLI field of ``config``."""
    for f, typ in config_fields(config):
        meta = f.metadata
        if not meta.get("cli", True):
            continue
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        kw: dict = {"dest": f.name, "help": meta.get("help", "")}
        base = _base_type(typ)
        if base is bool:
            if f.default is not False:
                raise TypeError(f"{config.__name__}.{f.name}: a flag must default to False")
            kw["action"] = "store_true"
        else:
            kw["type"] = base
            if meta.get("choices"):
                kw["choices"] = meta["choices"]
            if meta.get("metavar"):
                kw["metavar"] = meta["metavar"]
            if f.default is MISSING:
                kw["required"] = True
            else:
                kw["default"] = f.default
                if f.default is not None and kw["help"] and "default" not in kw["help"]:
                    kw["help"] += f" (default {f.default})"
        parser.add_argument(flag, **kw)


def config_from_args(config: type, args, command_line: str = ""):
    """Build ``config`` from an argparse namespace (and the command line, for fields named so)."""
    values = {}
    for f, _ in config_fields(config):
        if f.name == "command_line":
            values[f.name] = command_line
        elif f.metadata.get("cli", True):
            values[f.name] = getattr(args, f.name)
    return config(**values)


def _base_type(typ):
    """``int | None`` -> int; plain types unchanged."""
    args = [a for a in typing.get_args(typ) if a is not type(None)]
    if typing.get_origin(typ) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        return args[0]
    return typ
