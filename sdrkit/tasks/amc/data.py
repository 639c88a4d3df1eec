"""AMC training data: randomized frames of the 11 sdrkit modulation classes.

Each frame is what a real receiver would see, drawn independently per frame:

==========================  ===========================================================
samples per symbol          integer 2..8, then stretched by a random factor 0.9..1.1
                            (so the effective sps is continuous)
roll-off                    0.15..0.6 (RRC, linear classes)
timing offset               uniform within a symbol
carrier phase               uniform 0..2 pi
carrier frequency offset    +/-0.1% of the sample rate (residual after a receiver's coarse
                            correction; +/-1%, tried first, spins 8PSK past QPSK within a frame)
multipath                   1-3 taps, exponential power-delay profile (decay 0.3..1 sample),
                            Rician K 2..10 (a line-of-sight link with echoes)
IQ imbalance                +/-1 dB, +/-5 degrees
phase noise                 Wiener, 0..0.002 rad/sample (a 1 MS/s receiver with a decent TCXO;
                            0.01 rad/sample, tried first, scrambles 8PSK within one frame)
DC offset                   |dc| <= 0.05 of the signal RMS
SNR                         -20..30 dB in 2 dB steps (AWGN, sdrkit.dsp.channel definition)
==========================  ===========================================================

Frames are normalized to unit RMS by the model's input stage, not here, so recordings keep
their true levels. Generation runs on all cores (``workers`` processes), each from its own
seed derived from the root seed, so a split is reproducible from ``(seed, split)`` alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from sdrkit.dsp import MODULATIONS, modulate
from sdrkit.dsp import channel as ch

CLASSES = MODULATIONS
SNRS = tuple(range(-20, 31, 2))
SPLIT_STREAMS = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class AmcDataSpec:
    """What a data set is made of (recorded in model cards)."""

    frame_len: int = 1024
    classes: tuple[str, ...] = CLASSES
    snrs: tuple[int, ...] = SNRS
    sps_min: int = 2
    sps_max: int = 8
    stretch: float = 0.1
    rolloff: tuple[float, float] = (0.15, 0.6)
    max_cfo: float = 0.001
    max_taps: int = 3
    iq_amp_db: float = 1.0
    iq_phase_deg: float = 5.0
    max_phase_noise: float = 0.002
    max_dc: float = 0.05

    def to_dict(self) -> dict:
        return asdict(self)


def _stretch(x: np.ndarray, factor: np.ndarray, n: int) -> np.ndarray:
    """Resample rows by ``factor`` (linear interpolation), keeping ``n`` samples."""
    t = np.arange(n, dtype=np.float32)[None, :] * factor[:, None].astype(np.float32)
    i = t.astype(np.int64)
    f = t - i
    np.minimum(i, x.shape[1] - 2, out=i)
    rows = np.arange(x.shape[0])[:, None]
    a = x[rows, i]
    b = x[rows, i + 1]
    return a + (b - a) * f


def noise_pool(rng: np.random.Generator, n: int = 1 << 21) -> np.ndarray:
    """A pool of unit-power complex Gaussian noise; frames take random windows of it.

    Drawing fresh Gaussians costs more than the rest of a frame; a 2M-sample pool with a
    random offset per frame gives noise that is Gaussian and, across frames, practically
    independent (two frames share samples with probability ~ frame_len / pool size).
    """
    return rng.standard_normal((n, 2), dtype=np.float32).view(np.complex64)[:, 0] * np.float32(np.sqrt(0.5))


def generate_frames(labels: np.ndarray, snrs: np.ndarray, rng: np.random.Generator,
                    spec: AmcDataSpec = AmcDataSpec(), pool: np.ndarray | None = None) -> np.ndarray:
    """Frames for the given class indices and SNRs (dB), shape (len(labels), frame_len) complex64.

    ``pool``: noise pool from :func:`noise_pool` (made from ``rng`` when None).
    """
    n = spec.frame_len
    m = len(labels)
    out = np.empty((m, n), np.complex64)
    stretch = rng.uniform(1 - spec.stretch, 1 + spec.stretch, m)
    gen_len = int(math.ceil(n * (1 + spec.stretch))) + 2
    sps = rng.integers(spec.sps_min, spec.sps_max + 1, m)
    roll = np.round(rng.uniform(*spec.rolloff, m), 2)
    # one modulate() call per (class, sps) group: vectorized over the frames of the group
    for c in np.unique(labels):
        name = spec.classes[c]
        idx_c = np.flatnonzero(labels == c)
        if name in ("wbfm", "am-dsb", "am-ssb"):
            out[idx_c] = modulate(name, n, rng=rng, n_frames=len(idx_c))
            continue
        for s in np.unique(sps[idx_c]):
            idx = idx_c[sps[idx_c] == s]
            r = float(np.median(roll[idx]))
            y = modulate(name, gen_len, rng=rng, sps=int(s), rolloff=r, n_frames=len(idx))
            out[idx] = _stretch(y, stretch[idx], n)
    # channel: multipath, then one combined rotation (CFO + phase noise), IQ imbalance, DC, noise
    taps = rng.integers(1, spec.max_taps + 1, m)
    for k in np.unique(taps):
        idx = np.flatnonzero(taps == k)
        if k > 1:
            out[idx] = ch.multipath(out[idx], rng, n_taps=int(k), decay=float(rng.uniform(0.3, 1.0)),
                                    rician_k=float(rng.uniform(2, 10)))
    t = np.arange(n, dtype=np.float32)[None, :]
    cfo = rng.uniform(-spec.max_cfo, spec.max_cfo, (m, 1)).astype(np.float32)
    ph = (2 * np.pi) * cfo * t + rng.uniform(0, 2 * np.pi, (m, 1)).astype(np.float32)
    # Wiener phase noise drawn every 8th sample and held: the same random walk statistics
    # at 1/8 of the cost (the steps are small, so holding is indistinguishable from interpolating)
    pn = rng.uniform(0, spec.max_phase_noise, (m, 1)).astype(np.float32) * np.float32(np.sqrt(8))
    walk = np.cumsum(rng.standard_normal((m, n // 8), dtype=np.float32) * pn, axis=1)
    ph += np.repeat(walk, 8, axis=1)[:, :n]
    rot = np.empty((m, n), np.complex64)
    rot.real = np.cos(ph)
    rot.imag = np.sin(ph)
    out *= rot
    # IQ imbalance on the float view: Q' = g (Q cos(phi) - I sin(phi))
    g = (10 ** (rng.uniform(-spec.iq_amp_db, spec.iq_amp_db, (m, 1)) / 20)).astype(np.float32)
    phi = np.deg2rad(rng.uniform(-spec.iq_phase_deg, spec.iq_phase_deg, (m, 1))).astype(np.float32)
    re, im = out.real.copy(), out.imag
    im *= g * np.cos(phi)
    im -= re * (g * np.sin(phi))
    dc = (rng.uniform(0, spec.max_dc, m) * np.exp(2j * np.pi * rng.uniform(0, 1, m))).astype(np.complex64)
    out += dc[:, None]
    if pool is None:
        pool = noise_pool(rng)
    ps = np.mean(out.real ** 2 + out.imag ** 2, axis=1, keepdims=True)
    sigma = np.sqrt(ps / 10.0 ** (np.asarray(snrs, np.float64)[:, None] / 10)).astype(np.float32)
    off = rng.integers(0, len(pool) - n, m)
    windows = np.lib.stride_tricks.sliding_window_view(pool, n)   # a view: no copy until indexed
    noise = windows[off]
    noise *= sigma
    out += noise
    return out


def draw_labels(n_frames: int, rng: np.random.Generator, spec: AmcDataSpec = AmcDataSpec(), offset: int = 0):
    """Balanced class and SNR draws: ``(labels, snrs)`` for ``n_frames`` frames.

    Frame ``i`` of the whole split (``offset + i`` here) gets (class, SNR) cell ``i mod cells``,
    so a split is balanced however it is cut into parts; order is then shuffled.
    """
    k = len(spec.classes) * len(spec.snrs)
    grid = (offset + np.arange(n_frames)) % k
    rng.shuffle(grid)
    labels = grid // len(spec.snrs)
    snrs = np.asarray(spec.snrs, np.float64)[grid % len(spec.snrs)]
    return labels.astype(np.int64), snrs


_SHARED: list = []   # the output array, shared with forked workers


def _worker(args):
    seed, split, part, start, n, spec_d, chunk = args
    spec = AmcDataSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec_d.items()})
    rng = np.random.default_rng([seed, SPLIT_STREAMS[split], part])
    labels, snrs = draw_labels(n, rng, spec, offset=start)
    pool = noise_pool(rng)
    x = _SHARED[0][start:start + n] if _SHARED else np.empty((n, spec.frame_len), np.complex64)
    for i in range(0, n, chunk):
        x[i:i + chunk] = generate_frames(labels[i:i + chunk], snrs[i:i + chunk], rng, spec, pool)
    return (None if _SHARED else x), labels, snrs


def make_split(n_frames: int, split: str, seed: int, spec: AmcDataSpec = AmcDataSpec(), workers: int | None = None,
               chunk: int = 2048, parts: int | None = None):
    """Generate a whole split: ``(frames, labels, snrs)``.

    Reproducible from ``(seed, split, parts)``: the work is cut into ``parts`` pieces (default
    8), each with its own seed ``[seed, split, part]``, run on ``workers`` processes.
    """
    import os
    from concurrent.futures import ProcessPoolExecutor

    import mmap

    parts = parts or 8
    workers = workers or os.cpu_count() or 1
    sizes = [n_frames // parts + (1 if i < n_frames % parts else 0) for i in range(parts)]
    starts = np.cumsum([0] + sizes[:-1])
    jobs = [(seed, split, i, int(st), s, spec.to_dict(), chunk) for i, (st, s) in enumerate(zip(starts, sizes)) if s]
    if workers == 1:
        res = [_worker(j) for j in jobs]
        return (np.concatenate([r[0] for r in res]), np.concatenate([r[1] for r in res]),
                np.concatenate([r[2] for r in res]))
    import multiprocessing as mp

    # warm up in this process first (imports, FFT plans, filter caches), so every forked
    # worker starts warm; it draws from its own generator, so the split's bytes do not change
    warm = np.random.default_rng(12345)
    wl = np.tile(np.arange(len(spec.classes)), 8)
    generate_frames(wl, np.full(len(wl), 10.0), warm, spec, noise_pool(warm, 1 << 16))
    # workers write straight into an anonymous shared mapping inherited through fork
    buf = mmap.mmap(-1, max(n_frames * spec.frame_len * 8, 1))
    frames = np.frombuffer(buf, np.complex64, count=n_frames * spec.frame_len).reshape(n_frames, spec.frame_len)
    _SHARED[:] = [frames]
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as ex:
            res = list(ex.map(_worker, jobs))
    finally:
        _SHARED.clear()
    return frames, np.concatenate([r[1] for r in res]), np.concatenate([r[2] for r in res])
