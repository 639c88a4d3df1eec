"""MIMO link layer: channels, SNR conventions, Gray QAM, ZF / MMSE / ML / K-best detection,
hard and soft (LLR) demapping, BER with confidence intervals, and a pilot-framed burst modem.

Conventions (every function here follows them; the ``mimo`` task's figures are stated in them):

* Symbols are complex, one row per channel use: ``x`` has shape ``(B, N_T)``, ``y`` ``(B, N_R)``.
* Channel: ``y = H x + n`` with ``n ~ CN(0, N0 I_{N_R})`` (i.i.d. over uses and receive antennas).
* **Measured transmit power**: ``P = E[||x||^2] / N_T``, the mean energy per transmit antenna and
  channel use, measured on the symbols actually sent (a tanh encoder bounds the amplitude but does
  not fix the average power, so a nominal "unit power" would flatter it).
* **Es/N0** (dB) ``= 10 log10(P / N0)``: energy per transmit antenna symbol over the noise density
  per receive antenna. The channel matrix is not normalized: with the coupling channel the
  receive power per antenna is ``(1 + 0.3^2) P`` for independent streams, as in the paper.
* **Eb/N0** (dB) ``= Es/N0 - 10 log10(k)``: ``k`` information bits per transmit antenna and use.
* LLRs are ``log P(b=1 | y) / P(b=0 | y)`` (positive means 1; sionna's logit convention); hard
  bits are ``LLR > 0``.

Channels (:class:`MimoChannel`, called on batches like sionna's channel layers):
``awgn`` (``H = I``), ``coupling`` (fixed ``H``: 1 on the diagonal, ``coupling`` = 0.3 off it, the
paper's strong inter-stream interference channel) and ``rayleigh`` (i.i.d. ``CN(0, 1)`` entries,
one draw per channel use).

Detectors: ``zf_detect``, ``mmse_detect`` (linear, per-stream max-log LLRs from the post-
equalization SINR), ``ml_detect`` (exhaustive over a codebook: Gray QAM products or any learned
joint codebook, max-log LLRs) and ``kbest_detect`` (sorted-QR K-best tree search for QAM products
too large for exhaustive search, e.g. 8x8 QPSK: 65 536 hypotheses).

Burst modem (:class:`BurstFormat`): per stream a time-orthogonal pilot slot (a known unit-modulus
sequence on stream ``j`` in slot ``j``, silence on the others) that serves as preamble for timing
and as pilots for the least-squares channel estimate, then the data symbols, then a guard;
root-raised-cosine pulses at ``sps`` samples per symbol.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from sdrkit.errors import ConfigError

CHANNELS = ("awgn", "coupling", "rayleigh")


# ---- SNR -----------------------------------------------------------------------------------------

def tx_power(x: np.ndarray) -> float:
    """Measured transmit power per antenna ``P = mean ||x||^2 / N_T`` of symbols ``(B, N_T)``."""
    x = np.asarray(x)
    return float(np.mean(np.abs(x) ** 2))


def noise_density(power: float, es_n0_db: float) -> float:
    """``N0`` for a transmit power ``P`` (per antenna) at ``Es/N0`` dB."""
    return float(power) / 10 ** (float(es_n0_db) / 10)


def ebn0_to_esn0(eb_n0_db, k: int):
    """Eb/N0 (dB) -> Es/N0 (dB) for ``k`` bits per transmit antenna symbol."""
    return np.asarray(eb_n0_db, float) + 10 * math.log10(k)


def esn0_to_ebn0(es_n0_db, k: int):
    """Es/N0 (dB) -> Eb/N0 (dB) for ``k`` bits per transmit antenna symbol."""
    return np.asarray(es_n0_db, float) - 10 * math.log10(k)


# ---- channels ------------------------------------------------------------------------------------

def coupling_matrix(n_r: int, n_t: int, coupling: float = 0.3) -> np.ndarray:
    """The paper's interference channel: ones on the diagonal, ``coupling`` elsewhere, ``(N_R, N_T)``."""
    h = np.full((n_r, n_t), coupling, np.complex128)
    for i in range(min(n_r, n_t)):
        h[i, i] = 1.0
    return h


@dataclass(frozen=True)
class MimoChannel:
    """``y = H x + n`` on batches (see the module docstring for the SNR convention).

    Attributes:
        n_t: transmit antennas. n_r: receive antennas.
        kind: ``awgn`` (H = I, needs n_r == n_t), ``coupling`` (fixed H) or ``rayleigh``.
        coupling: off-diagonal gain of the ``coupling`` channel (paper: 0.3).
    """

    n_t: int
    n_r: int
    kind: str = "coupling"
    coupling: float = 0.3

    def __post_init__(self):
        if self.kind not in CHANNELS:
            raise ConfigError(f"MIMO channel kind {self.kind!r} is not one of {CHANNELS}")
        if self.n_t < 1 or self.n_r < 1:
            raise ConfigError(f"MIMO channel {self.n_r}x{self.n_t}: antenna counts must be >= 1")
        if self.kind == "awgn" and self.n_r != self.n_t:
            raise ConfigError(f"an awgn MIMO channel is H = I and needs N_R == N_T (got {self.n_r}x{self.n_t}); "
                              f"use kind='coupling' with coupling=0 for a rectangular identity")

    def matrix(self) -> np.ndarray | None:
        """The fixed ``H`` (``(N_R, N_T)``), None for ``rayleigh`` (drawn per use)."""
        if self.kind == "awgn":
            return np.eye(self.n_r, self.n_t, dtype=np.complex128)
        if self.kind == "coupling":
            return coupling_matrix(self.n_r, self.n_t, self.coupling)
        return None

    def draw(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        """Channel matrices ``(B, N_R, N_T)`` for ``batch`` uses."""
        h = self.matrix()
        if h is not None:
            return np.broadcast_to(h, (batch, self.n_r, self.n_t))
        return (rng.standard_normal((batch, self.n_r, self.n_t))
                + 1j * rng.standard_normal((batch, self.n_r, self.n_t))) / np.sqrt(2)

    def __call__(self, x: np.ndarray, n0: float, rng: np.random.Generator, h: np.ndarray | None = None):
        """Send ``x`` ``(B, N_T)``; returns ``(y (B, N_R), H (B, N_R, N_T))``.

        Args:
            n0: noise density per receive antenna (see :func:`noise_density`).
            h: channel matrices to use instead of drawing them.
        """
        x = np.asarray(x)
        if h is None:
            h = self.draw(x.shape[0], rng)
        y = np.einsum("brt,bt->br", h, x) if h.ndim == 3 else x @ h.T
        n = (rng.standard_normal(y.shape) + 1j * rng.standard_normal(y.shape)) * np.sqrt(n0 / 2)
        return y + n, h


# ---- Gray QAM ------------------------------------------------------------------------------------

def _gray(n: int) -> np.ndarray:
    return np.arange(n) ^ (np.arange(n) >> 1)


@dataclass(frozen=True)
class QAM:
    """Square Gray-mapped ``2^k``-QAM with unit average energy (k even: 2, 4, 6, ...).

    The first ``k/2`` bits of a symbol choose the in-phase level, the last ``k/2`` the quadrature
    level; each is a Gray-coded PAM, so neighbours differ in one bit.
    """

    k: int

    def __post_init__(self):
        if self.k < 2 or self.k % 2:
            raise ConfigError(f"square QAM needs an even number of bits per symbol >= 2 (got k={self.k})")

    @property
    def points(self) -> np.ndarray:
        """``(2^k,)`` complex points; index ``i`` carries the bits of ``i`` (MSB first)."""
        m = 1 << (self.k // 2)
        levels = (2 * np.arange(m) - (m - 1)).astype(float)
        # PAM level of each Gray label: label g sits at position p with gray(p) == g
        pos = np.empty(m, int)
        pos[_gray(m)] = np.arange(m)
        pam = levels[pos]
        idx = np.arange(1 << self.k)
        pts = pam[idx >> (self.k // 2)] + 1j * pam[idx & (m - 1)]
        return pts / np.sqrt(np.mean(np.abs(pts) ** 2))

    @property
    def labels(self) -> np.ndarray:
        """``(2^k, k)`` bits of each point (MSB first)."""
        return int_to_bits(np.arange(1 << self.k), self.k)

    def modulate(self, bits: np.ndarray) -> np.ndarray:
        """Bits ``(..., k)`` -> symbols ``(...)``."""
        return self.points[bits_to_int(bits)]

    def demap_hard(self, z: np.ndarray) -> np.ndarray:
        """Nearest point for equalized symbols ``z`` -> bits ``(..., k)``."""
        d = np.abs(z[..., None] - self.points) ** 2
        return self.labels[np.argmin(d, axis=-1)]

    def demap_llr(self, z: np.ndarray, noise_var) -> np.ndarray:
        """Max-log LLRs ``(..., k)`` of equalized symbols ``z`` with Gaussian noise ``noise_var``."""
        d = np.abs(z[..., None] - self.points) ** 2 / np.asarray(noise_var)[..., None]
        return max_log_llr(-d, self.labels)


def int_to_bits(i: np.ndarray, nbits: int) -> np.ndarray:
    """Integers -> bits ``(..., nbits)`` uint8, MSB first."""
    i = np.asarray(i, np.int64)
    return ((i[..., None] >> np.arange(nbits - 1, -1, -1)) & 1).astype(np.uint8)


def bits_to_int(bits: np.ndarray) -> np.ndarray:
    """Bits ``(..., n)`` (MSB first) -> integers."""
    bits = np.asarray(bits, np.int64)
    return bits @ (1 << np.arange(bits.shape[-1] - 1, -1, -1))


def max_log_llr(metric: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Max-log LLRs from per-hypothesis log-likelihoods.

    Args:
        metric: ``(..., H)`` log-likelihood (up to a constant) of each hypothesis.
        labels: ``(H, nbits)`` bits of each hypothesis.

    Returns:
        ``(..., nbits)`` LLRs ``max_{b=1} metric - max_{b=0} metric``.
    """
    lab = labels.astype(bool)
    out = np.empty(metric.shape[:-1] + (lab.shape[1],))
    for j in range(lab.shape[1]):
        one = lab[:, j]
        out[..., j] = metric[..., one].max(axis=-1) - metric[..., ~one].max(axis=-1)
    return out


def product_codebook(qam: QAM, n_t: int) -> tuple[np.ndarray, np.ndarray]:
    """Every QAM vector of ``n_t`` antennas: ``(M^N_T, N_T)`` symbols and ``(M^N_T, k N_T)`` bits
    (antenna 0's bits first)."""
    m = 1 << qam.k
    n = m ** n_t
    if n > 1 << 20:
        raise ConfigError(f"{m}-QAM on {n_t} antennas has {n} hypotheses; exhaustive search is bounded at 2^20, "
                          f"use kbest_detect")
    idx = np.arange(n)
    bits = int_to_bits(idx, qam.k * n_t)
    sym = qam.points[bits_to_int(bits.reshape(n, n_t, qam.k))]
    return sym, bits


# ---- detectors -----------------------------------------------------------------------------------

def _as_batch_h(h: np.ndarray, batch: int) -> np.ndarray:
    h = np.asarray(h)
    return np.broadcast_to(h, (batch,) + h.shape) if h.ndim == 2 else h


def linear_equalizer(y: np.ndarray, h: np.ndarray, n0: float, power: float = 1.0, kind: str = "mmse"):
    """ZF or MMSE equalization with unbiased outputs and their effective noise variances.

    Args:
        y: ``(B, N_R)``; h: ``(N_R, N_T)`` or ``(B, N_R, N_T)``; n0: noise density;
        power: transmit power per antenna ``P`` (MMSE prior).
        kind: ``zf`` or ``mmse``.

    Returns:
        ``(z, var)``: ``(B, N_T)`` unbiased symbol estimates and ``(B, N_T)`` noise-plus-
        interference variances (Gaussian approximation).
    """
    y = np.asarray(y)
    hb = _as_batch_h(h, y.shape[0])
    n_t = hb.shape[-1]
    hh = np.conj(np.swapaxes(hb, -1, -2))
    gram = hh @ hb
    eye = np.eye(n_t)
    if kind == "zf":
        inv = np.linalg.inv(gram)
        z = np.einsum("btr,br->bt", inv @ hh, y)
        var = n0 * np.real(np.diagonal(inv, axis1=-2, axis2=-1))
        return z, var
    if kind != "mmse":
        raise ConfigError(f"linear equalizer {kind!r} is not 'zf' or 'mmse'")
    a = np.linalg.inv(gram + (n0 / power) * eye)
    w = a @ hh                                     # (B, N_T, N_R)
    xh = np.einsum("btr,br->bt", w, y)
    mu = np.real(np.diagonal(w @ hb, axis1=-2, axis2=-1))   # gain on the wanted symbol
    z = xh / mu
    var = power * (1 - mu) / mu
    return z, np.maximum(var, 1e-30)


def zf_detect(y, h, n0, qam: QAM, power: float = 1.0, soft: bool = False):
    """ZF detection of Gray QAM: hard bits ``(B, N_T k)`` or max-log LLRs."""
    z, var = linear_equalizer(y, h, n0, power, "zf")
    return _demap(z, var, qam, power, soft)


def mmse_detect(y, h, n0, qam: QAM, power: float = 1.0, soft: bool = False):
    """LMMSE detection of Gray QAM: hard bits ``(B, N_T k)`` or max-log LLRs."""
    z, var = linear_equalizer(y, h, n0, power, "mmse")
    return _demap(z, var, qam, power, soft)


def _demap(z, var, qam, power, soft):
    s = np.sqrt(power)
    if soft:
        return qam.demap_llr(z / s, var / power).reshape(z.shape[0], -1)
    return qam.demap_hard(z / s).reshape(z.shape[0], -1)


def ml_detect(y, h, n0, codebook: np.ndarray, labels: np.ndarray, soft: bool = False, chunk: int = 1 << 22):
    """Exhaustive ML detection over a codebook (QAM products or a learned joint constellation).

    Args:
        y: ``(B, N_R)``; h: ``(N_R, N_T)`` or ``(B, N_R, N_T)``; n0: noise density.
        codebook: ``(C, N_T)`` transmit vectors; labels: ``(C, nbits)`` their bits.
        soft: max-log LLRs instead of hard bits.
        chunk: work size bound (uses x hypotheses per step).

    Returns:
        ``(B, nbits)`` hard bits (uint8) or LLRs.
    """
    y = np.asarray(y)
    b = y.shape[0]
    c = codebook.shape[0]
    out = np.empty((b, labels.shape[1]), np.float64 if soft else np.uint8)
    step = max(1, chunk // c)
    h = np.asarray(h)
    if h.ndim == 2:
        rx = codebook @ h.T                        # (C, N_R): the noiseless receptions
        rx_pow = np.sum(np.abs(rx) ** 2, axis=1)
    for a in range(0, b, step):
        yb = y[a:a + step]
        if h.ndim == 2:
            # ||y - r||^2 = ||y||^2 - 2 Re(y r^H) + ||r||^2; ||y||^2 is common to every hypothesis
            d = rx_pow[None, :] - 2 * np.real(yb @ np.conj(rx).T)
        else:
            r = np.einsum("brt,ct->bcr", h[a:a + step], codebook)
            d = np.sum(np.abs(yb[:, None, :] - r) ** 2, axis=-1)
        if soft:
            out[a:a + step] = max_log_llr(-d / n0, labels)
        else:
            out[a:a + step] = labels[np.argmin(d, axis=1)]
    return out


def kbest_detect(y, h, n0, qam: QAM, k_best: int = 32, power: float = 1.0, soft: bool = False):
    """Sorted-QR K-best tree search for Gray QAM products (breadth-first, ``k_best`` survivors).

    Soft outputs are max-log LLRs over the final candidate list (a bit value missing from the
    list gets the clipped LLR +-20).

    Returns:
        ``(B, N_T k)`` hard bits or LLRs.
    """
    y = np.asarray(y)
    b = y.shape[0]
    hb = _as_batch_h(h, b) * np.sqrt(power)
    n_t = hb.shape[-1]
    m = 1 << qam.k
    pts = qam.points
    # sorted QR: detect the strongest column last (columns by increasing norm first in the tree)
    q, r = np.linalg.qr(hb)
    yt = np.einsum("bri,br->bi", np.conj(q), y)    # (B, N_T)
    cand = np.zeros((b, 1, 0), int)                 # symbol indices, layer order n_t-1 .. 0
    metric = np.zeros((b, 1))
    for layer in range(n_t - 1, -1, -1):
        nc = cand.shape[1]
        # interference of already decided layers (layer+1 .. n_t-1)
        if cand.shape[2]:
            s_dec = pts[cand[:, :, ::-1]]          # (B, nc, n_t-1-layer) in layer order layer+1..
            interf = np.einsum("bj,bcj->bc", r[:, layer, layer + 1:], s_dec)
        else:
            interf = np.zeros((b, nc))
        resid = yt[:, layer][:, None, None] - interf[:, :, None] - r[:, layer, layer][:, None, None] * pts
        new = metric[:, :, None] + np.abs(resid) ** 2      # (B, nc, m)
        new = new.reshape(b, nc * m)
        keep = min(k_best, nc * m)
        sel = np.argpartition(new, keep - 1, axis=1)[:, :keep] if keep < nc * m else \
            np.broadcast_to(np.arange(nc * m), (b, nc * m))
        metric = np.take_along_axis(new, sel, axis=1)
        parent, sym = sel // m, sel % m
        cand = np.concatenate([np.take_along_axis(cand, parent[:, :, None], axis=1), sym[:, :, None]], axis=2)
    sym_idx = cand[:, :, ::-1]                      # (B, K, N_T) antenna order
    bits = qam.labels[sym_idx].reshape(b, cand.shape[1], -1)    # (B, K, N_T k)
    if not soft:
        best = np.argmin(metric, axis=1)
        return bits[np.arange(b), best].astype(np.uint8)
    lab = bits.astype(bool)
    m_ = -metric / n0
    one = np.where(lab, m_[:, :, None], -np.inf).max(axis=1)
    zero = np.where(~lab, m_[:, :, None], -np.inf).max(axis=1)
    return np.clip(np.nan_to_num(one - zero, nan=0.0, posinf=20.0, neginf=-20.0), -20, 20)


def exhaustive_search(y, h, codebook, labels) -> np.ndarray:
    """Reference ML by a plain loop over hypotheses (for tests): bits of ``argmin ||y - H c||``."""
    y = np.asarray(y)
    best = np.full(y.shape[0], np.inf)
    arg = np.zeros(y.shape[0], int)
    hb = _as_batch_h(h, y.shape[0])
    for i, c in enumerate(codebook):
        d = np.sum(np.abs(y - hb @ c) ** 2, axis=1)
        better = d < best
        best[better], arg[better] = d[better], i
    return labels[arg]


# ---- BER -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BerCount:
    """Bit errors over bits, with a Clopper-Pearson confidence interval."""

    errors: int
    bits: int

    @property
    def ber(self) -> float:
        return self.errors / self.bits if self.bits else float("nan")

    def interval(self, confidence: float = 0.95) -> tuple[float, float]:
        """Exact (Clopper-Pearson) two-sided interval of the BER."""
        from scipy.special import betaincinv     # beta.ppf(q, a, b), without importing scipy.stats

        a = 1 - confidence
        e, n = self.errors, self.bits
        lo = 0.0 if e == 0 else float(betaincinv(e, n - e + 1, a / 2))
        hi = 1.0 if e == n else float(betaincinv(e + 1, n - e, 1 - a / 2))
        return lo, hi

    def __add__(self, other: "BerCount") -> "BerCount":
        return BerCount(self.errors + other.errors, self.bits + other.bits)

    def to_dict(self) -> dict:
        lo, hi = self.interval()
        return {"errors": self.errors, "bits": self.bits, "ber": self.ber, "ci95": [lo, hi]}


def count_errors(bits_hat, bits) -> BerCount:
    """Bit errors of hard decisions against the sent bits."""
    bits_hat, bits = np.asarray(bits_hat), np.asarray(bits)
    return BerCount(int(np.count_nonzero(bits_hat.astype(np.uint8) != bits.astype(np.uint8))), int(bits.size))


def snr_at_ber(snr_db, ber, target: float = 1e-3) -> float:
    """SNR (dB) where a BER curve crosses ``target`` (log-linear interpolation), NaN if it never does."""
    snr_db, ber = np.asarray(snr_db, float), np.asarray(ber, float)
    for i in range(len(ber) - 1):
        a, b = ber[i], ber[i + 1]
        if a >= target > b or (a > target >= b):
            la, lb = math.log10(max(a, 1e-300)), math.log10(max(b, 1e-300))
            t = (math.log10(target) - la) / (lb - la) if lb != la else 0.0
            return float(snr_db[i] + t * (snr_db[i + 1] - snr_db[i]))
    return float("nan")


# ---- burst modem ---------------------------------------------------------------------------------

def rrc_taps(beta: float, sps: int, span: int) -> np.ndarray:
    """Root-raised-cosine taps, ``span`` symbols long, unit energy."""
    t = np.arange(-span * sps / 2, span * sps / 2 + 1) / sps
    h = np.empty_like(t)
    for i, ti in enumerate(t):
        if abs(ti) < 1e-12:
            h[i] = 1 - beta + 4 * beta / np.pi
        elif beta and abs(abs(4 * beta * ti) - 1) < 1e-9:
            h[i] = beta / np.sqrt(2) * ((1 + 2 / np.pi) * np.sin(np.pi / (4 * beta))
                                        + (1 - 2 / np.pi) * np.cos(np.pi / (4 * beta)))
        else:
            h[i] = (np.sin(np.pi * ti * (1 - beta)) + 4 * beta * ti * np.cos(np.pi * ti * (1 + beta))) / \
                   (np.pi * ti * (1 - (4 * beta * ti) ** 2))
    return h / np.sqrt(np.sum(h ** 2))


def pilot_sequence(length: int, stream: int) -> np.ndarray:
    """A unit-modulus Zadoff-Chu pilot of ``length`` symbols for ``stream`` (root ``2 stream + 1``)."""
    n = np.arange(length)
    root = 2 * stream + 1
    while math.gcd(root, length) != 1:
        root += 2
    return np.exp(-1j * np.pi * root * n * (n + (length % 2)) / length)


@dataclass(frozen=True)
class BurstFormat:
    """One burst per stream: ``N_T`` pilot slots (time-orthogonal), data, guard.

    Attributes:
        n_t: streams (transmit antennas). data: data symbols per stream.
        pilot: symbols per pilot slot. guard: silent symbols after the data.
        sps: samples per symbol. beta: RRC roll-off. span: RRC length, symbols.
    """

    n_t: int
    data: int = 256
    pilot: int = 32
    guard: int = 16
    sps: int = 4
    beta: float = 0.35
    span: int = 8

    @property
    def symbols(self) -> int:
        """Symbols per burst and stream."""
        return self.n_t * self.pilot + self.data + self.guard

    @property
    def samples(self) -> int:
        """Samples per burst (symbols x sps)."""
        return self.symbols * self.sps

    def pilots(self) -> np.ndarray:
        """``(N_T, N_T * pilot)`` pilot grid: stream j sends its sequence in slot j only."""
        g = np.zeros((self.n_t, self.n_t * self.pilot), np.complex128)
        for j in range(self.n_t):
            g[j, j * self.pilot:(j + 1) * self.pilot] = pilot_sequence(self.pilot, j)
        return g

    def modulate(self, data: np.ndarray, power: float) -> np.ndarray:
        """Bursts from data symbols.

        Args:
            data: ``(bursts, data, N_T)`` symbols (the model's output, power ``power`` per antenna).
            power: the data's measured per-antenna power; pilots are sent at the same power.

        Returns:
            ``(N_T, bursts * samples)`` complex128 baseband, RRC shaped (bursts back to back).
        """
        nb = data.shape[0]
        if data.shape[1:] != (self.data, self.n_t):
            raise ConfigError(f"burst data shape {data.shape[1:]} is not (data={self.data}, N_T={self.n_t})")
        sym = np.zeros((self.n_t, nb, self.symbols), np.complex128)
        sym[:, :, :self.n_t * self.pilot] = self.pilots()[:, None, :] * np.sqrt(power)
        sym[:, :, self.n_t * self.pilot:self.n_t * self.pilot + self.data] = np.transpose(data, (2, 0, 1))
        up = np.zeros((self.n_t, nb * self.symbols * self.sps), np.complex128)
        up[:, ::self.sps] = sym.reshape(self.n_t, -1)
        taps = rrc_taps(self.beta, self.sps, self.span)
        d = len(taps) // 2
        out = np.stack([np.convolve(u, taps)[d:d + u.size] for u in up]) * np.sqrt(self.sps)
        return out

    def matched(self, rx: np.ndarray) -> np.ndarray:
        """Matched-filter ``(N_R, n)`` samples (same length, zero group delay)."""
        taps = rrc_taps(self.beta, self.sps, self.span)
        d = len(taps) // 2
        return np.stack([np.convolve(r, taps)[d:d + r.size] for r in rx]) / np.sqrt(self.sps)

    def find_start(self, mf: np.ndarray, search: int) -> int:
        """Sample index of the first burst in matched-filtered ``mf``: the peak of the pilot
        correlation summed over receive antennas and streams, within ``[0, search)``."""
        g = self.pilots()
        lag = np.arange(self.n_t * self.pilot) * self.sps
        n = mf.shape[1]
        search = max(1, min(search, n - lag[-1] - 1))
        idx = np.arange(search)[:, None] + lag[None, :]          # (search, L)
        score = np.zeros(search)
        for j in range(self.n_t):
            p = np.conj(g[j])
            for r in mf:
                score += np.abs(r[idx] @ p) ** 2
        return int(np.argmax(score))

    def demodulate(self, mf: np.ndarray, start: int, bursts: int, power: float = 1.0):
        """Symbol-spaced samples of ``bursts`` bursts from ``start``, channel and noise estimates.

        Returns:
            ``(y, h, n0)``: ``(bursts, data, N_R)`` data samples, ``(bursts, N_R, N_T)`` least-squares
            channel estimates (in units of the transmitted symbols, so ``y = h x + n``; ``power`` is
            the per-antenna power the pilots were sent at, as given to :meth:`modulate`) and
            ``(bursts,)`` noise densities from the pilot residuals.
        """
        g = self.pilots()
        npil = self.n_t * self.pilot
        ys, hs, ns = [], [], []
        for b in range(bursts):
            s0 = start + b * self.samples
            sym = mf[:, s0:s0 + self.symbols * self.sps:self.sps]        # (N_R, symbols)
            if sym.shape[1] < self.symbols:
                raise ConfigError(f"burst {b} runs past the received samples ({mf.shape[1]}); receive more")
            pil = sym[:, :npil]
            h = np.zeros((mf.shape[0], self.n_t), np.complex128)
            for j in range(self.n_t):
                sl = slice(j * self.pilot, (j + 1) * self.pilot)
                h[:, j] = pil[:, sl] @ np.conj(g[j, sl]) / (self.pilot * np.sqrt(power))
            resid = pil - (h @ g) * np.sqrt(power)
            # the LS fit removes N_T*N_R of the N_R*npil complex degrees of freedom
            n0 = float(np.sum(np.abs(resid) ** 2) / max(1, mf.shape[0] * (npil - self.n_t)))
            ys.append(sym[:, npil:npil + self.data].T)
            hs.append(h)
            ns.append(n0)
        return np.stack(ys), np.stack(hs), np.asarray(ns)


__all__ = ["BerCount", "BurstFormat", "CHANNELS", "MimoChannel", "QAM", "bits_to_int", "count_errors",
           "coupling_matrix", "ebn0_to_esn0", "esn0_to_ebn0", "exhaustive_search", "int_to_bits", "kbest_detect",
           "linear_equalizer", "max_log_llr", "ml_detect", "mmse_detect", "noise_density", "pilot_sequence",
           "product_codebook", "rrc_taps", "snr_at_ber", "tx_power", "zf_detect"]
