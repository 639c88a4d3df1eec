"""Network architectures, one module per family, all in one registry.

:data:`MODELS` maps an architecture name to the class or factory that builds it (as timm's
``create_model``); a model card's ``architecture`` (``{"name": ..., "kwargs": {...}}``)
names an entry, so a trained network can be rebuilt from its card::

    net = create_model(card.architecture)             # same constructor arguments as trained
    net.load_state_dict(torch.load(card.file("torch"), weights_only=True))

Entries are lazy (``"module:attr"``) so that ``import sdrkit.nn`` imports no torch. A new
task's networks go into their own module here with one registry line.
"""

from __future__ import annotations

from sdrkit.registry import Registry

MODELS = Registry("model architecture")
MODELS.register_lazy("amc_earlyexit", "sdrkit.nn.amc:EarlyExitNet")
MODELS.register_lazy("protobeam_encoder", "sdrkit.nn.beam:build_encoder")


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
    factory = MODELS.get(architecture["name"])
    return factory(**{**dict(architecture.get("kwargs") or {}), **runtime_kwargs})
