"""Spectrogram throughput: 1024-point Hann, power in dB, complex64 in."""

from __future__ import annotations

import os

import numpy as np

from sdrkit.bench import BenchContext, Result, benchmark, best_rate


def _fft_ceiling(x: np.ndarray, nfft: int, workers: int) -> float:
    import scipy.fft as sfft
    from concurrent.futures import ThreadPoolExecutor

    frames = x.reshape(-1, nfft)
    chunk = 128
    bufs = [np.empty((chunk, nfft), np.complex64) for _ in range(workers)]

    def part(k):
        sl = frames[k::workers] if workers > 1 else frames
        b = bufs[k]
        for i in range(0, sl.shape[0] - chunk + 1, chunk):
            b[...] = sl[i:i + chunk]
            sfft.fft(b, axis=-1, overwrite_x=True, workers=1)

    if workers == 1:
        return best_rate(lambda: (part(0), x.size)[1], 1.0)
    pool = ThreadPoolExecutor(workers)
    try:
        return best_rate(lambda: (list(pool.map(part, range(workers))), x.size)[1], 1.0)
    finally:
        pool.shutdown()


@benchmark("spectrogram")
def spectrogram_bench(ctx: BenchContext) -> list[Result]:
    """sdrkit.dsp.spectrogram MS/s on 1 and all cores vs scipy.fft of the same frames."""
    from sdrkit.dsp.spectrogram import spectrogram, spectrogram_reference

    nfft = 1024
    n = 2 ** 20 if ctx.quick else 2 ** 22
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    cores = os.cpu_count() or 1
    out = []
    ceil1 = _fft_ceiling(x, nfft, 1)
    r1 = best_rate(lambda: spectrogram(x, nfft, workers=1).shape[0] * nfft, ctx.seconds)
    out.append(Result("spectrogram 1 core", r1 / 1e6, "MS/s", ceil1 / 1e6, "scipy.fft same frames, 1 core",
                      target=0.5 * ceil1 / 1e6, notes="target = 0.5 x FFT ceiling"))
    naive = best_rate(lambda: spectrogram_reference(x[: 2 ** 20], nfft).shape[0] * nfft, ctx.seconds)
    out.append(Result("naive numpy STFT 1 core", naive / 1e6, "MS/s", ceil1 / 1e6, "scipy.fft same frames, 1 core",
                      notes="reference: np.fft + abs**2 + log10"))
    ceilw = _fft_ceiling(x, nfft, cores)
    rw = best_rate(lambda: spectrogram(x, nfft, workers=cores).shape[0] * nfft, ctx.seconds)
    out.append(Result(f"spectrogram {cores} cores", rw / 1e6, "MS/s", ceilw / 1e6, f"scipy.fft same frames, {cores} threads",
                      target=61.44, notes="target: fastest Pluto/B210 rate"))
    return out
