"""Emulated radios speaking real driver protocols (the virtual Pluto over IIOD)."""

from sdrkit.radio.emulator.server import PlutoEmulator, VirtualPluto

__all__ = ["PlutoEmulator", "VirtualPluto"]
