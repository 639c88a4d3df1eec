"""Simulated-radio replay as fast as possible, beside a plain copy of the same bytes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from sdrkit.bench import BenchContext, Result, benchmark, best_rate


@benchmark("replay")
def replay(ctx: BenchContext) -> list[Result]:
    """SimRadio.rx() throughput (MS/s) vs np.copyto of the same block size."""
    from sdrkit.capture import write_recording
    from sdrkit.radio import open_radio

    n_rec = 2 ** 20 if ctx.quick else 2 ** 23
    block = 2 ** 16 if ctx.quick else 2 ** 18
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n_rec) + 1j * rng.standard_normal(n_rec)).astype(np.complex64) * 0.1
    with tempfile.TemporaryDirectory() as d:
        meta = write_recording(Path(d) / "bench", x, sample_rate=10e6, center_frequency=1e9)
        with open_radio(f"sim:{meta}?loop=1&rx_buffer_size={block}") as radio:
            rate = best_rate(lambda: len(radio.rx()), ctx.seconds)
            lost = radio.samples_lost
    dst = np.empty(block, np.complex64)
    pos = [0]

    def copy():
        p = pos[0]
        np.copyto(dst, x[p:p + block])
        pos[0] = (p + block) % (n_rec - block)
        return block

    ceiling = best_rate(copy, ctx.seconds)
    return [Result("sim replay", rate / 1e6, "MS/s", ceiling / 1e6, "np.copyto same blocks", target=400.0,
                   notes=f"block {block} samples, recording in RAM, lost {lost}")]
