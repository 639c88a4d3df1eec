"""One registry mechanism for radios, tasks, models and benchmarks.

A :class:`Registry` maps a name to an object registered with a decorator::

    RADIOS = Registry("radio scheme")

    @RADIOS.register("sim")
    class SimRadio(Radio): ...

Registration happens when the defining module is imported. To keep ``import sdrkit`` fast,
a registry may also hold *lazy* entries (``"module:attr"`` strings) that are imported on
first lookup.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Iterator

from sdrkit.errors import ConfigError


class Registry:
    """A name -> object map filled by a decorator, with lazy ``"module:attr"`` entries."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Any] = {}

    def register(self, name: str, obj: Any = None) -> Callable:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is None."""
        if obj is not None:
            self._items[name] = obj
            return obj

        def deco(o):
            self._items[name] = o
            return o

        return deco

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``"package.module:attr"`` to be imported on first lookup."""
        self._items.setdefault(name, target)

    def get(self, name: str) -> Any:
        """Return the object registered as ``name``.

        Raises:
            ConfigError: when no such name is registered (the message lists the known names).
        """
        try:
            item = self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}") from None
        if isinstance(item, str):
            mod, _, attr = item.partition(":")
            item = getattr(importlib.import_module(mod), attr)
            self._items[name] = item
        return item

    def names(self) -> list[str]:
        """Sorted registered names."""
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
