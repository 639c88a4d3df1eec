"""AMC data generation speed (the dataset command's generator), beside drawing the same noise."""

from __future__ import annotations

import time

import numpy as np

from sdrkit.bench import BenchContext, Result, benchmark


@benchmark("amc_data")
def amc_data(ctx: BenchContext) -> list[Result]:
    """Randomized AMC frames/s (1024 samples, all impairments, all cores) vs drawing 2 Gaussians per sample."""
    import os

    from sdrkit.tasks.amc.data import make_split

    n = 8000 if ctx.quick else 60000
    make_split(2000, "train", 1, workers=os.cpu_count())       # warm up imports in the workers' parent
    t0 = time.perf_counter()
    make_split(n, "train", 1, workers=os.cpu_count())
    rate = n / (time.perf_counter() - t0)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(max(n // 4096, 1)):
        rng.standard_normal((4096, 2048), dtype=np.float32)
    ceil = max(n // 4096, 1) * 4096 / (time.perf_counter() - t0)
    return [Result("amc frames generated", rate, "frames/s", ceil, "np.random normal, 2 x 1024 per frame, 1 core",
                   target=20000.0, notes=f"{n} frames, {os.cpu_count()} worker processes, in shared memory")]
