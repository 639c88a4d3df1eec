"""Fuzz target: the SigMF reader (``open_recording``) and what reads a recording's fields.

An input is a :func:`~tests.fuzz._core.pack` of ``[meta bytes, data bytes]`` (one part: the
data file is missing). Seeds are real recordings written by ``write_recording``: cf32 with
labels, ci16 with ``sdrkit:full_scale`` and ``sdrkit:radio_config``, two channels, an
interrupted one (``sdrkit:complete`` false) and one with a gap annotation. Mutations: hostile
values anywhere in the metadata (huge/NaN/inf numbers, deep nesting, wrong types), deleted or
added fields, byte damage to the JSON, truncated or extended data.

Each input is opened and then used the way ``sdrkit info``, ``replay`` and the ``sim:``
radio use it: read all samples, read frames, labels, summary, one ``SimRadio`` block, and the
virtual Pluto's state (``emulate pluto --replay``).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from tests.fuzz._core import NOT_JSON, dumps, loads_or_none, mutate_bytes, mutate_json, pack, scratch_dir, unpack

EXTRA_KEYS = ["sdrkit:full_scale", "sdrkit:sample_count", "sdrkit:complete", "sdrkit:radio_config",
              "sdrkit:lost_samples", "core:num_channels", "core:sample_rate", "core:datatype",
              "core:header_bytes", "core:sample_start", "core:sample_count", "core:label", "core:frequency",
              "annotations", "captures", "global", "rx_hardwaregain"]


class SigmfTarget:
    name = "sigmf"

    def __init__(self):
        self._tmp = scratch_dir("sdrkit-fuzz-sigmf-")
        self.dir = Path(self._tmp.name)
        self._seeds: list[bytes] | None = None

    def seeds(self) -> list[bytes]:
        if self._seeds is None:
            self._seeds = _make_seeds(self.dir / "seeds")
        return self._seeds

    def mutate(self, data: bytes, rnd: random.Random) -> bytes:
        parts = unpack(data) or [b"{}", b""]
        meta, raw = parts[0], parts[1] if len(parts) > 1 else None
        r = rnd.random()
        if r < 0.7:
            obj = loads_or_none(meta)
            meta = mutate_bytes(meta, rnd) if obj is NOT_JSON else dumps(mutate_json(obj, rnd, EXTRA_KEYS))
        elif r < 0.85:
            meta = mutate_bytes(meta, rnd)
        if raw is None or rnd.random() < 0.25:
            raw = mutate_bytes(raw or b"", rnd) if rnd.random() < 0.9 else None
        return pack([meta] if raw is None else [meta, raw])

    def execute(self, data: bytes) -> None:
        from sdrkit.capture import open_recording
        from sdrkit.cli.info import summarize
        from sdrkit.radio.emulator.server import VirtualPluto
        from sdrkit.radio.sim import SimRadio

        parts = unpack(data)
        meta_path, data_path = self.dir / "r.sigmf-meta", self.dir / "r.sigmf-data"
        meta_path.write_bytes(parts[0] if parts else b"")
        if len(parts) > 1:
            data_path.write_bytes(parts[1])
        else:
            data_path.unlink(missing_ok=True)
        with open_recording(meta_path) as rec:
            x = rec.read()
            assert x.dtype == np.complex64
            if rec.num_samples >= 16:
                rec.read_frames([0, rec.num_samples // 16 - 1], 16)
            for _ in rec.blocks(max(1, rec.num_samples // 3 + 1)):
                pass
            rec.labels()
            repr(rec)
            one_channel = rec.num_channels == 1
        summarize(meta_path)
        with SimRadio(meta_path) as radio:
            radio.rx()
        if one_channel:                            # the virtual Pluto refuses others by design
            VirtualPluto(meta_path)                # sdrkit emulate pluto --replay


def _make_seeds(d: Path) -> list[bytes]:
    from sdrkit.capture import RecordingWriter, write_recording

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    x = ((rng.standard_normal(256) + 1j * rng.standard_normal(256)) * 0.1).astype(np.complex64)
    paths = [
        write_recording(d / "cf32", x, sample_rate=1e6, center_frequency=915e6,
                        annotations=[{"start": 0, "count": 128, "label": "bpsk", "snr_db": 10.0}]),
        write_recording(d / "ci16", x, sample_rate=2e6, center_frequency=2.4e9, datatype="ci16_le",
                        full_scale=2048, extra_global={"radio_config": {"rx_hardwaregain": 30.0, "rx_lo": 2.4e9},
                                                       "command": "sdrkit capture", "seed": 0}),
        write_recording(d / "two", np.stack([x, x[::-1]]), sample_rate=1e6, center_frequency=1e8, datatype="ci8"),
        write_recording(d / "cu8", x, sample_rate=2.4e6, center_frequency=1e8, datatype="cu8"),
    ]
    with RecordingWriter(d / "gap", sample_rate=1e6, center_frequency=915e6) as w:
        w.write(x[:100])
        w.add_gap(100, 37)
        w.write(x[100:])
    paths.append(w.meta_path)
    w = RecordingWriter(d / "cut", sample_rate=1e6, center_frequency=915e6, datatype="ci16_le")
    w.write(x)
    w.flush()                               # never closed: sdrkit:complete stays false
    paths.append(w.meta_path)
    seeds = []
    for p in paths:
        data = p.with_name(p.name.replace(".sigmf-meta", ".sigmf-data")).read_bytes()
        if p.name.startswith("cut"):
            data += b"\x01\x02\x03"         # a partial trailing sample, as after a kill
        seeds.append(pack([p.read_bytes(), data]))
    return seeds
