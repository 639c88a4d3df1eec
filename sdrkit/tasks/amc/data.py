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
SNR                         -20..30 dB in 2 dB steps (AWGN, sdrkit.dsp.impair definition)
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
from sdrkit.dsp import impair

CLASSES = MODULATIONS
SNRS = tuple(range(-20, 31, 2))
SPLIT_STREAMS = {"train": 0, "val": 1, "test": 2, "shifted_val": 3, "shifted_test": 4}


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
    #: generator family: ``base`` (the ranges above), ``wide`` (what real transmitters and
    #: receivers do; trained on) or ``shifted`` (held back); see :mod:`sdrkit.tasks.amc.variants`,
    #: whose ranges replace the ones above for ``wide`` and ``shifted``
    family: str = "base"

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


noise_pool = impair.noise_pool    # kept here: the data set's noise pool (see generate_frames)


@dataclass(frozen=True, eq=False)
class ReceiverDraw:
    """One batch's receiver impairments, per frame: what :func:`generate_frames` draws.

    :func:`draw_receiver` makes one from a spec and a generator; build one by hand to apply
    chosen values with :func:`apply_receiver`. Conventions are :mod:`sdrkit.dsp.impair`'s.

    Attributes:
        cfo: carrier frequency offset, cycles/sample; float32 (frames, 1).
        phase0: carrier phase at sample 0, rad; float32 (frames, 1).
        phase_noise: Wiener phase walk, rad; float32 (frames, n), or 0.0 for none.
        iq_amp_db: Q-branch gain relative to I, dB; (frames, 1).
        iq_phase_deg: Q-branch quadrature error, degrees; (frames, 1).
        dc: DC offset, full-scale units; complex64 (frames,).
    """

    cfo: np.ndarray
    phase0: np.ndarray
    phase_noise: np.ndarray | float
    iq_amp_db: np.ndarray
    iq_phase_deg: np.ndarray
    dc: np.ndarray


def draw_receiver(m: int, rng: np.random.Generator, spec: AmcDataSpec = AmcDataSpec()) -> ReceiverDraw:
    """Draw ``m`` frames' receiver impairments from the ranges of ``spec`` (module docstring)."""
    n = spec.frame_len
    cfo = rng.uniform(-spec.max_cfo, spec.max_cfo, (m, 1)).astype(np.float32)
    phase0 = rng.uniform(0, 2 * np.pi, (m, 1)).astype(np.float32)
    # Wiener phase noise drawn every 8th sample and held: the same random walk statistics
    # at 1/8 of the cost, in float32 (phases of a 1024-sample frame stay small)
    pn_std = rng.uniform(0, spec.max_phase_noise, (m, 1)).astype(np.float32)
    walk = impair.wiener_phase((m, n), pn_std, rng, hold=8, dtype=np.float32)
    amp = rng.uniform(-spec.iq_amp_db, spec.iq_amp_db, (m, 1))
    phase = rng.uniform(-spec.iq_phase_deg, spec.iq_phase_deg, (m, 1))
    dc = (rng.uniform(0, spec.max_dc, m) * np.exp(2j * np.pi * rng.uniform(0, 1, m))).astype(np.complex64)
    return ReceiverDraw(cfo, phase0, walk, amp, phase, dc)


def apply_receiver(x: np.ndarray, r: ReceiverDraw, snrs, rng: np.random.Generator,
                   pool: np.ndarray | None = None) -> np.ndarray:
    """The receiver chain: one rotation (CFO + start phase + phase noise), IQ imbalance, DC, AWGN.

    Args:
        x: complex64 (frames, n).
        r: the frames' impairments.
        snrs: SNR per frame, dB (:mod:`sdrkit.dsp.impair` definition), or None for no noise.
        rng: random generator (noise).
        pool: noise pool (:func:`noise_pool`; made from ``rng`` when None and noise is added).

    Returns:
        complex64 (frames, n).
    """
    ph = impair.cfo_phase(x.shape[-1], r.cfo, phase0=r.phase0, dtype=np.float32)
    ph += r.phase_noise
    y = impair.rotate(x, ph)
    y = impair.iq_imbalance(y, r.iq_amp_db, r.iq_phase_deg)
    y = impair.dc_offset(y, r.dc)
    if snrs is None:
        return y
    if pool is None:
        pool = noise_pool(rng)
    return impair.awgn(y, np.asarray(snrs, np.float64), rng, pool=pool)


def generate_frames(labels: np.ndarray, snrs: np.ndarray, rng: np.random.Generator,
                    spec: AmcDataSpec = AmcDataSpec(), pool: np.ndarray | None = None) -> np.ndarray:
    """Frames for the given class indices and SNRs (dB), shape (len(labels), frame_len) complex64.

    ``pool``: noise pool from :func:`noise_pool` (made from ``rng`` when None).
    """
    if spec.family != "base":
        from sdrkit.tasks.amc.variants import generate

        return generate(labels, snrs, rng, spec.classes, spec.frame_len, spec.family, pool)
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
    # channel: multipath, then the receiver (apply_receiver)
    taps = rng.integers(1, spec.max_taps + 1, m)
    for k in np.unique(taps):
        idx = np.flatnonzero(taps == k)
        if k > 1:
            out[idx] = impair.multipath(out[idx], rng, n_taps=int(k), decay=float(rng.uniform(0.3, 1.0)),
                                        rician_k=float(rng.uniform(2, 10)))
    return apply_receiver(out, draw_receiver(m, rng, spec), snrs, rng, pool)


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
    from tqdm import tqdm

    bar = tqdm(total=n_frames, desc=f"dataset {split}", unit="frame", disable=None, leave=False)
    if workers == 1:
        res = []
        for j in jobs:
            res.append(_worker(j))
            bar.update(j[4])
        bar.close()
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
            res = []
            for j, r in zip(jobs, ex.map(_worker, jobs)):
                res.append(r)
                bar.update(j[4])
    finally:
        bar.close()
        _SHARED.clear()
    return frames, np.concatenate([r[1] for r in res]), np.concatenate([r[2] for r in res])
