"""Network architectures, one module per family, all in one registry.

:data:`MODELS` maps an architecture name to the class or factory that builds it (as timm's
``create_model``); a model card's ``architecture`` (``{"name": ..., "kwargs": {...}}``)
names an entry, so a trained network can be rebuilt from its card::

    net = create_model(card.architecture)             # same constructor arguments as trained
    net.load_state_dict(torch.load(card.file("torch"), weights_only=True))

A module registers its networks with the :func:`register_model` decorator; ``import
sdrkit.nn`` imports no torch, and the modules are imported (all of them, once) the first time
a name is looked up. So a new task's networks need one module here and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil

from sdrkit.registry import Registry

MODELS = Registry("model architecture")
#: name -> callable returning ``(constructor kwargs, example input shape)``, for the registry tests
EXAMPLES: dict = {}
_discovered = False


def register_model(name: str, example=None):
    """Decorator: register a network class or factory as architecture ``name``.

    Args:
        example: a callable returning ``(kwargs, input_shape)``: arguments that build a small
            instance and the shape of an input it takes (the registry tests build and run it).
    """
    if example is not None:
        EXAMPLES[name] = example
    return MODELS.register(name)


def list_models() -> list[str]:
    """Every registered architecture name (imports the ``sdrkit.nn`` modules)."""
    _discover()
    return MODELS.names()


def _discover() -> None:
    global _discovered
    if not _discovered:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
        _discovered = True


def create_model(architecture, **runtime_kwargs):
    """Build the network an ``architecture`` describes.

    Args:
        architecture: ``{"name": str, "kwargs": dict}`` (a card's field) or a registered name.
        runtime_kwargs: arguments that are not data (e.g. beam's preamble array), passed on.

    Raises:
        ConfigError: unknown architecture name (the message lists the registered ones).
    """
    if isinstance(architecture, str):
        architecture = {"name": architecture}
    _discover()
    factory = MODELS.get(architecture["name"])
    return factory(**{**dict(architecture.get("kwargs") or {}), **runtime_kwargs})
