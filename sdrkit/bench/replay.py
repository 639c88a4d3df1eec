"""Simulated-radio replay as fast as possible, beside a plain copy of the same bytes.

The headline figure is ``SimRadio.rx()`` on a cf32 recording held in RAM at its own rate
and frequency (one copy per block into a block the caller owns), against ``np.copyto`` of
the same block size from the same array, measured in the same run. Two more rows show
what the optional stages cost: a front end (``fe-b``) and a 2:1 resample with a retune,
converted once for the whole in-RAM recording or block by block (large recordings).
"""

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

    n_rec = 2 ** 20 if ctx.quick else 2 ** 22
    block = 2 ** 16 if ctx.quick else 2 ** 18
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n_rec) + 1j * rng.standard_normal(n_rec)).astype(np.complex64) * 0.1
    rows = []
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

        ceiling = best_rate(copy, ctx.seconds) / 1e6
        rows.append(Result("sim replay", rate / 1e6, "MS/s", ceiling, "np.copyto same blocks", target=400.0,
                           notes=f"cf32 in RAM, block {block} samples, lost {lost}"))
        from sdrkit.radio import sim

        variants = [("sim replay + front end fe-b", "front_end=fe-b", "IQ imbalance, DC, CFO, phase noise", None),
                    ("sim replay resampled 2:1, whole array", "sample_rate=5e6&rx_lo=1.001e9",
                     "retune 1 MHz + 10 -> 5 MS/s, converted once at configure", None),
                    ("sim replay resampled 2:1, streaming", "sample_rate=5e6&rx_lo=1.001e9",
                     "retune 1 MHz + 10 -> 5 MS/s, block by block (recordings > 2**22 samples)", 0)]
        for name, opts, what, precompute_max in variants:
            saved = sim._PRECOMPUTE_MAX
            if precompute_max is not None:
                sim._PRECOMPUTE_MAX = precompute_max
            try:
                with open_radio(f"sim:{meta}?loop=1&rx_buffer_size={block}&{opts}") as radio:
                    r = best_rate(lambda: len(radio.rx()), ctx.seconds / 2, repeats=3)
            finally:
                sim._PRECOMPUTE_MAX = saved
            rows.append(Result(name, r / 1e6, "MS/s", ceiling, "np.copyto same blocks",
                               notes=f"{what}; output samples/s"))
    return rows
