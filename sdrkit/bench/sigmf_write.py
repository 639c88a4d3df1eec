"""SigMF write throughput beside a plain file write of the same bytes."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from sdrkit.bench import BenchContext, Result, benchmark


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@benchmark("sigmf_write")
def sigmf_write(ctx: BenchContext) -> list[Result]:
    """RecordingWriter MB/s (cf32_le and ci16_le) vs plain open/write/fsync of the same bytes."""
    from sdrkit.capture import RecordingWriter

    block = 2 ** 16
    n_blocks = 32 if ctx.quick else 256
    rng = np.random.default_rng(0)
    x = (0.1 * (rng.standard_normal(block) + 1j * rng.standard_normal(block))).astype(np.complex64)
    out = []
    with tempfile.TemporaryDirectory() as d:
        for dt_name in ("cf32_le", "ci16_le"):
            payload = memoryview(np.zeros(block * (8 if dt_name == "cf32_le" else 4), np.uint8))

            def plain():
                with open(Path(d) / "plain.bin", "wb") as fh:
                    for _ in range(n_blocks):
                        fh.write(payload)
                    fh.flush()
                    os.fsync(fh.fileno())

            def sig():
                with RecordingWriter(Path(d) / "r", sample_rate=1e6, center_frequency=1e9, datatype=dt_name,
                                     overwrite=True) as w:
                    for _ in range(n_blocks):
                        w.write(x)

            mb = n_blocks * len(payload) / 1e6
            best_plain = min(_timed(plain) for _ in range(3))
            best = min(_timed(sig) for _ in range(3))
            out.append(Result(f"sigmf write {dt_name}", mb / best, "MB/s", mb / best_plain,
                              "plain write+fsync, same file bytes",
                              notes=f"{n_blocks} x {block}-sample complex64 blocks in; MB of file written"))
    return out
