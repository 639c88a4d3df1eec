"""The served IIO context: ``pluto.xml`` parsed into devices, channels and an attribute store.

Attribute values are keyed the way sysfs files are: channel attributes that share a sysfs
``filename`` (``in_voltage_sampling_frequency`` for input voltage0 and voltage2, ...) share one
value, so writing one changes all of them, as on hardware.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

XML_PATH = Path(__file__).with_name("pluto.xml")


@dataclass
class Channel:
    id: str
    output: bool
    name: str | None
    scan_index: int | None
    fmt: str | None
    attrs: dict[str, str] = field(default_factory=dict)   # attr name -> store key


@dataclass
class Device:
    id: str
    name: str
    channels: list[Channel] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    debug: dict[str, str] = field(default_factory=dict)
    buffer: dict[str, str] = field(default_factory=dict)

    @property
    def scan_channels(self) -> list[Channel]:
        """Channels in mask-bit order: scan elements by index, then the rest in XML order."""
        scan = sorted((c for c in self.channels if c.scan_index is not None), key=lambda c: c.scan_index)
        return scan + [c for c in self.channels if c.scan_index is None]

    def channel(self, output: bool, token: str) -> Channel | None:
        for c in self.channels:
            if c.output == output and (c.id == token or c.name == token):
                return c
        return None


class IioContext:
    """Devices and the attribute value store of the served context."""

    def __init__(self, xml_path: Path = XML_PATH):
        self.xml_bytes = xml_path.read_bytes()
        root = ET.fromstring(self.xml_bytes)
        self.values: dict[str, str] = {}
        self.devices: list[Device] = []
        for d in root.iter("device"):
            dev = Device(d.get("id"), d.get("name") or "")
            for el in d:
                if el.tag == "channel":
                    se = el.find("scan-element")
                    ch = Channel(el.get("id"), el.get("type") == "output", el.get("name"),
                                 int(se.get("index")) if se is not None else None,
                                 se.get("format") if se is not None else None)
                    for a in el.findall("attribute"):
                        fn = a.get("filename") or f"{'out' if ch.output else 'in'}_{ch.id}_{a.get('name')}"
                        key = f"{dev.id}/{fn}"
                        ch.attrs[a.get("name")] = key
                        self.values.setdefault(key, a.get("value", ""))
                    dev.channels.append(ch)
                elif el.tag in ("attribute", "debug-attribute", "buffer-attribute"):
                    kind = {"attribute": "attrs", "debug-attribute": "debug", "buffer-attribute": "buffer"}[el.tag]
                    key = f"{dev.id}/{kind}/{el.get('name')}"
                    getattr(dev, kind)[el.get("name")] = key
                    self.values.setdefault(key, el.get("value", ""))
            self.devices.append(dev)

    def device(self, token: str) -> Device | None:
        """Resolve a device token by id, label or name."""
        for d in self.devices:
            if token in (d.id, d.name):
                return d
        return None
