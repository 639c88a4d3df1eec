"""A small burst modem: bits -> one complex64 burst with a preamble, and back, through any radio.

Made for short digital payloads carried over a radio link (a CSI feedback codeword, a model's
weights, a control message): the transmitter calls :func:`modulate`, hands the samples to
``radio.tx()``, the receiver collects ``radio.rx()`` blocks and calls :func:`demodulate`, which
finds the burst, corrects timing, carrier frequency offset (CFO), gain and phase, and returns
the bits with a CRC verdict. Pure numpy; no state between calls.

Burst layout (``sps`` samples per symbol, rectangular pulses, unit-modulus symbols scaled by
``amplitude``)::

    | preamble: Zadoff-Chu half, same half again | header | payload with pilots | CRC-32 |

* **preamble**: two identical halves of a length-``preamble_len`` Zadoff-Chu sequence (root
  ``zc_root``). Detection correlates each half separately and adds the magnitudes (robust to a
  CFO that rotates the phase by up to about a cycle over a half); the coarse CFO is the phase
  between the halves (unambiguous for ``|CFO| < sample_rate / (2 * preamble_len * sps)``); the
  complex gain (amplitude and phase) is the least-squares fit over the whole preamble.
* **header** (only with ``header=True``): 32 bits: 16-bit payload length in bits, then its
  CRC-16/CCITT, BPSK, each bit repeated ``header_repeat`` times (soft-combined). Without a header
  the receiver must be told ``n_bits`` (fixed-size feedback, as a CSI codeword is).
* **payload**: the bits plus a CRC-32 (zlib) over them, ``modulation`` "bpsk" (1 bit/symbol) or
  "qpsk" (2 bits/symbol, Gray: bit 0 -> I sign, bit 1 -> Q sign, 0 -> +, 1 -> -). Every
  ``pilot_spacing`` data symbols a group of ``pilot_len`` known symbols (+1) is inserted; the
  receiver fits a straight line through the pilot phases (residual CFO and phase) and removes it.

SNR convention: a channel SNR is the received burst's power per *sample* over the complex noise
power per sample (sdrkit's ``sim:loopback?loopback_snr=`` is defined so). With ``sps`` samples
per symbol the symbol energy over N0 is ``SNR + 10 log10(sps)`` dB after the matched filter.

Example, through the simulated radio::

    from sdrkit.dsp.burst import BurstFormat, modulate, demodulate
    from sdrkit.radio import open_radio

    fmt = BurstFormat(modulation="qpsk")
    bits = np.random.default_rng(0).integers(0, 2, 2048).astype(np.uint8)
    uri = "sim:loopback?sample_rate=1e6&loopback_snr=20&loopback_cfo=300&loopback_delay=500"
    with open_radio(uri) as radio:
        radio.tx(modulate(bits, fmt))                         # one-shot: plays once
        rx = np.concatenate([radio.rx().samples for _ in range(3)])
    out = demodulate(rx, fmt, n_bits=bits.size, sample_rate=1e6)
    assert out.crc_ok and np.array_equal(out.bits, bits)

API (stable): :class:`BurstFormat`, :func:`modulate`, :func:`demodulate` -> :class:`Burst`,
:func:`burst_length`, :func:`pad_burst`, :func:`bytes_to_bits`, :func:`bits_to_bytes`,
:func:`awgn_symbols` (the same modulation through an ideal AWGN channel: no radio, perfect
sync, the reference the over-the-air path is compared with).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from sdrkit.errors import ConfigError, StreamError

MODULATIONS = {"bpsk": 1, "qpsk": 2}
HEADER_BITS = 32
MAX_BITS = (1 << 16) - 1   # the header's 16-bit length field


@dataclass(frozen=True)
class BurstFormat:
    """How a burst is built; transmitter and receiver must use the same one.

    Attributes:
        modulation: "bpsk" or "qpsk" (payload; the header is always BPSK).
        preamble_len: length of one Zadoff-Chu half, symbols (the preamble is two halves).
        zc_root: Zadoff-Chu root, coprime with ``preamble_len``.
        pilot_spacing: data symbols between pilot groups (0: no pilots).
        pilot_len: known symbols per pilot group.
        sps: samples per symbol (rectangular pulse; 1 = one sample per symbol).
        header: send a length header (else the receiver is told ``n_bits``).
        header_repeat: repetitions of each header bit.
        amplitude: peak amplitude of the burst's samples (``radio.tx`` needs ``|x| <= 1``).
        detect_threshold: minimum normalized preamble correlation (0..1) to accept a burst.
    """

    modulation: str = "qpsk"
    preamble_len: int = 128
    zc_root: int = 5
    pilot_spacing: int = 64
    pilot_len: int = 4
    sps: int = 1
    header: bool = False
    header_repeat: int = 8
    amplitude: float = 0.7
    detect_threshold: float = 0.15

    def __post_init__(self):
        if self.modulation not in MODULATIONS:
            raise ConfigError(f"burst modulation {self.modulation!r} must be one of {sorted(MODULATIONS)}")
        for name, low in (("preamble_len", 8), ("sps", 1), ("pilot_len", 1), ("header_repeat", 1),
                          ("pilot_spacing", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < low:
                raise ConfigError(f"burst {name}={v!r} must be an integer >= {low}")
        if np.gcd(int(self.zc_root), int(self.preamble_len)) != 1:
            raise ConfigError(f"burst zc_root={self.zc_root} must be coprime with preamble_len="
                              f"{self.preamble_len}; e.g. zc_root=5 with preamble_len=128")
        if not 0 < self.amplitude <= 1:
            raise ConfigError(f"burst amplitude={self.amplitude} must be in (0, 1] (radio.tx needs |x| <= 1)")
        if not 0 < self.detect_threshold < 1:
            raise ConfigError(f"burst detect_threshold={self.detect_threshold} must be in (0, 1)")

    @property
    def bits_per_symbol(self) -> int:
        return MODULATIONS[self.modulation]

    def preamble(self) -> np.ndarray:
        """One Zadoff-Chu half, complex64 unit modulus (``preamble_len`` symbols)."""
        n = np.arange(self.preamble_len)
        L, u = self.preamble_len, self.zc_root
        ph = -np.pi * u * n * (n + (L % 2)) / L
        return np.exp(1j * ph).astype(np.complex64)


@dataclass
class Burst:
    """What :func:`demodulate` found.

    Attributes:
        bits: the payload bits (uint8 0/1; without the CRC).
        crc_ok: the CRC-32 over the bits matched (and the header's CRC-16, with a header).
        start: sample index of the burst's first preamble sample in the input.
        cfo_hz: estimated carrier offset, Hz (cycles/sample when no sample rate was given).
        gain: complex gain of the channel (received = gain * sent), at the preamble.
        snr_db: SNR per sample estimated on the preamble, dB.
        evm: RMS error vector magnitude of the payload symbols after correction (relative).
        metric: normalized preamble correlation at the detected start (0..1).
        soft: per-bit soft values (positive: bit 0), same length as ``bits``.
    """

    bits: np.ndarray
    crc_ok: bool
    start: int
    cfo_hz: float
    gain: complex
    snr_db: float
    evm: float
    metric: float
    soft: np.ndarray


# ---- bits <-> bytes, CRCs -------------------------------------------------------------------

def bytes_to_bits(data: bytes) -> np.ndarray:
    """Bytes -> uint8 bits, most significant bit first."""
    return np.unpackbits(np.frombuffer(bytes(data), np.uint8))


def bits_to_bytes(bits) -> bytes:
    """uint8 bits (MSB first) -> bytes; the last byte is zero-padded."""
    return np.packbits(np.asarray(bits, np.uint8)).tobytes()


def _crc32_bits(bits: np.ndarray) -> np.ndarray:
    c = zlib.crc32(bits_to_bytes(bits) + len(bits).to_bytes(4, "big")) & 0xFFFFFFFF
    return np.unpackbits(np.frombuffer(c.to_bytes(4, "big"), np.uint8))


def _crc16(value: int) -> int:
    """CRC-16/CCITT-FALSE of a 16-bit value (two bytes, big-endian)."""
    crc = 0xFFFF
    for byte in value.to_bytes(2, "big"):
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _check_bits(bits) -> np.ndarray:
    b = np.asarray(bits)
    if b.ndim != 1 or b.size == 0 or b.size > MAX_BITS:
        raise ConfigError(f"burst payload must be a 1-D array of 1..{MAX_BITS} bits, got shape {b.shape}")
    if not np.isin(b, (0, 1)).all():
        raise ConfigError("burst payload bits must be 0 or 1 (use bytes_to_bits for bytes)")
    return b.astype(np.uint8)


# ---- symbols ----------------------------------------------------------------------------------

def _map(bits: np.ndarray, bps: int) -> np.ndarray:
    s = 1.0 - 2.0 * bits.astype(np.float32)
    if bps == 1:
        return s.astype(np.complex64)
    if len(s) % 2:
        s = np.append(s, 1.0)
    return ((s[0::2] + 1j * s[1::2]) / np.sqrt(2)).astype(np.complex64)


def _soft(sym: np.ndarray, bps: int, n_bits: int) -> np.ndarray:
    if bps == 1:
        return sym.real[:n_bits].astype(np.float32)
    out = np.empty(2 * len(sym), np.float32)
    out[0::2], out[1::2] = sym.real, sym.imag
    return out[:n_bits]


def _n_symbols(n_bits: int, bps: int) -> int:
    return -(-n_bits // bps)


def _insert_pilots(data: np.ndarray, fmt: BurstFormat) -> np.ndarray:
    if not fmt.pilot_spacing:
        return data
    out = []
    pilot = np.ones(fmt.pilot_len, np.complex64)
    for i in range(0, len(data), fmt.pilot_spacing):
        out += [pilot, data[i:i + fmt.pilot_spacing]]
    out.append(pilot)             # a closing group: the phase line is anchored at both ends
    return np.concatenate(out)


def _layout(n_data: int, fmt: BurstFormat) -> tuple[np.ndarray, np.ndarray]:
    """(data symbol positions, pilot symbol positions) within the payload section."""
    if not fmt.pilot_spacing:
        return np.arange(n_data), np.arange(0)
    data_pos, pilot_pos, k = [], [], 0
    for i in range(0, n_data, fmt.pilot_spacing):
        pilot_pos.extend(range(k, k + fmt.pilot_len))
        k += fmt.pilot_len
        m = min(fmt.pilot_spacing, n_data - i)
        data_pos.extend(range(k, k + m))
        k += m
    pilot_pos.extend(range(k, k + fmt.pilot_len))
    return np.asarray(data_pos), np.asarray(pilot_pos)


def _header_symbols(n_bits: int, fmt: BurstFormat) -> np.ndarray:
    if not fmt.header:
        return np.zeros(0, np.complex64)
    word = (n_bits << 16) | _crc16(n_bits)
    bits = np.unpackbits(np.frombuffer(word.to_bytes(4, "big"), np.uint8))
    return np.repeat(_map(bits, 1), fmt.header_repeat)


def burst_length(n_bits: int, fmt: BurstFormat = BurstFormat()) -> int:
    """Samples in the burst that carries ``n_bits`` payload bits."""
    n_data = _n_symbols(n_bits + 32, fmt.bits_per_symbol)
    payload = len(_layout(n_data, fmt)[0]) + len(_layout(n_data, fmt)[1])
    header = HEADER_BITS * fmt.header_repeat if fmt.header else 0
    return (2 * fmt.preamble_len + header + payload) * fmt.sps


def modulate(bits, fmt: BurstFormat = BurstFormat()) -> np.ndarray:
    """The burst carrying ``bits``, complex64, peak amplitude ``fmt.amplitude``.

    Args:
        bits: 1-D array of 0/1, at most ``MAX_BITS`` (65535).

    Raises:
        ConfigError: bits that are not 0/1, empty, or too many.
    """
    b = _check_bits(bits)
    payload = np.concatenate([b, _crc32_bits(b)])
    pre = fmt.preamble()
    sym = np.concatenate([pre, pre, _header_symbols(len(b), fmt),
                          _insert_pilots(_map(payload, fmt.bits_per_symbol), fmt)])
    return (np.repeat(sym, fmt.sps) * np.float32(fmt.amplitude)).astype(np.complex64)


def pad_burst(burst: np.ndarray, lead: int = 0, tail: int | None = None) -> np.ndarray:
    """``lead`` zeros, the burst, ``tail`` zeros (default: as many as ``lead``), for a one-shot ``tx()``.

    Note: ``sim:`` loopback defines its SNR on the mean power of the whole TX buffer, zeros
    included, so padding raises the SNR the burst sees; use ``loopback_delay`` for a lead instead.
    """
    tail = lead if tail is None else tail
    return np.concatenate([np.zeros(lead, np.complex64), np.asarray(burst, np.complex64),
                           np.zeros(tail, np.complex64)])


# ---- receiver ---------------------------------------------------------------------------------

def _xcorr(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``c[d] = sum_n x[d + n] * conj(ref[n])`` for every full overlap d (FFT)."""
    n = len(x) + len(ref) - 1
    nfft = 1 << (n - 1).bit_length()
    c = np.fft.ifft(np.fft.fft(x, nfft) * np.conj(np.fft.fft(ref, nfft)))
    return c[:len(x) - len(ref) + 1]


def _detect(x: np.ndarray, fmt: BurstFormat) -> tuple[int, float]:
    half = np.repeat(fmt.preamble(), fmt.sps)
    L = len(half)
    if len(x) < 2 * L:
        raise StreamError(f"burst receiver got {len(x)} samples, fewer than the {2 * L}-sample preamble; "
                          f"receive more samples (radio.rx() until the burst has passed)")
    c = _xcorr(x, half)
    metric = np.abs(c[:-L]) + np.abs(c[L:])
    energy = np.convolve(np.abs(x) ** 2, np.ones(2 * L), mode="valid")[:len(metric)]
    norm = metric / np.sqrt(np.maximum(energy, 1e-30) * 2 * L) / np.sqrt(2)
    d = int(np.argmax(norm))
    return d, float(norm[d])


def demodulate(samples, fmt: BurstFormat = BurstFormat(), n_bits: int | None = None,
               sample_rate: float | None = None) -> Burst:
    """Find the first, strongest burst in ``samples`` and recover its bits.

    Args:
        samples: received complex samples, 1-D (one channel), containing the whole burst.
        fmt: the transmitter's :class:`BurstFormat`.
        n_bits: payload length in bits (required without a header; checked against it with one).
        sample_rate: samples/s, to report the CFO in Hz (else cycles/sample).

    Returns:
        a :class:`Burst`; ``crc_ok`` False means bit errors (the bits are still returned).

    Raises:
        StreamError: no preamble above ``fmt.detect_threshold``, or the burst is cut off.
        ConfigError: neither a header nor ``n_bits``.
    """
    x = np.asarray(samples, np.complex64).ravel()
    if not fmt.header and n_bits is None:
        raise ConfigError("this burst format has no header: pass n_bits (the payload length the receiver expects)")
    sps, L = fmt.sps, fmt.preamble_len
    d, metric = _detect(x, fmt)
    if metric < fmt.detect_threshold:
        raise StreamError(f"no burst preamble found: best normalized correlation {metric:.3f} < detect_threshold "
                          f"{fmt.detect_threshold}; check the link (SNR, tx_lo vs rx_lo) or lower the threshold")
    pre = fmt.preamble()

    def symbols(start: int, count: int) -> np.ndarray:
        end = start + count * sps
        if end > len(x):
            raise StreamError(f"burst at sample {d} is cut off: needs {end - d} samples, the input has "
                              f"{len(x) - d} after it; receive longer")
        return x[start:end].reshape(count, sps).mean(axis=1)

    r = symbols(d, 2 * L)
    # coarse CFO (per symbol) from the phase between the two identical halves
    p = np.vdot(r[:L] * np.conj(pre), r[L:] * np.conj(pre))
    w = float(np.angle(p)) / L                       # radians per symbol
    k_pre = np.arange(2 * L)
    r = r * np.exp(-1j * w * k_pre)
    ref = np.concatenate([pre, pre])
    gain = complex(np.vdot(ref, r) / (2 * L))
    resid = r - gain * ref
    noise = float(np.mean(np.abs(resid) ** 2)) * sps   # per sample: averaging sps samples cut it by sps
    sig = abs(gain) ** 2
    snr_db = 10 * np.log10(max(sig, 1e-30) / max(noise, 1e-30))
    pos = d + 2 * L * sps

    def correct(sym: np.ndarray, k0: int) -> np.ndarray:
        k = k0 + np.arange(len(sym))
        return sym * np.exp(-1j * w * k) / (gain if gain != 0 else 1.0)

    header_ok = True
    if fmt.header:
        hs = correct(symbols(pos, HEADER_BITS * fmt.header_repeat), 2 * L)
        soft = hs.real.reshape(HEADER_BITS, fmt.header_repeat).sum(axis=1)
        hb = (soft < 0).astype(np.uint8)
        word = int.from_bytes(np.packbits(hb).tobytes(), "big")
        length, crc = word >> 16, word & 0xFFFF
        header_ok = _crc16(length) == crc and length > 0
        pos += HEADER_BITS * fmt.header_repeat * sps
        k_payload = 2 * L + HEADER_BITS * fmt.header_repeat
        if n_bits is None:
            if not header_ok:
                raise StreamError(f"burst at sample {d}: the header's CRC failed (SNR about {snr_db:.1f} dB); "
                                  f"pass n_bits when the length is known")
            n_bits = length
        elif header_ok and length != n_bits:
            header_ok = False
    else:
        k_payload = 2 * L
    n_data = _n_symbols(int(n_bits) + 32, fmt.bits_per_symbol)
    data_pos, pilot_pos = _layout(n_data, fmt)
    total = len(data_pos) + len(pilot_pos)
    y = correct(symbols(pos, total), k_payload)
    if len(pilot_pos):
        # residual CFO and phase: the line that best aligns the pilot groups (and the preamble, phase 0),
        # found by a fine search of the pilot periodogram (no phase unwrapping: robust at low SNR)
        groups = pilot_pos.reshape(-1, fmt.pilot_len)
        z = np.concatenate([[2.0 * L], y[groups].sum(axis=1)])
        t = np.concatenate([[L - 0.5 - (k_payload - 2 * L) - 2 * L], groups.mean(axis=1)])
        span = min(0.05, np.pi / (fmt.pilot_spacing + fmt.pilot_len))
        grid = np.linspace(-span, span, 1001)
        m = np.abs(np.exp(-1j * np.outer(grid, t)) @ z)
        i = int(np.argmax(m))
        slope = grid[i]
        if 0 < i < len(grid) - 1:           # parabolic refinement between grid points
            a, b, c = m[i - 1], m[i], m[i + 1]
            den = a - 2 * b + c
            if den < 0:
                slope += 0.5 * (a - c) / den * (grid[1] - grid[0])
        icpt = float(np.angle(np.sum(z * np.exp(-1j * slope * t))))
        kk = np.arange(total)
        y = y * np.exp(-1j * (slope * kk + icpt))
        w += slope
    data = y[data_pos]
    soft = _soft(data, fmt.bits_per_symbol, int(n_bits) + 32)
    bits_all = (soft < 0).astype(np.uint8)
    bits, crc = bits_all[:n_bits], bits_all[n_bits:]
    ideal = _map(bits_all, fmt.bits_per_symbol)
    evm = float(np.sqrt(np.mean(np.abs(data - ideal) ** 2)))
    crc_ok = header_ok and np.array_equal(_crc32_bits(bits), crc)
    cfo = w / (2 * np.pi * sps)
    if sample_rate:
        cfo *= float(sample_rate)
    return Burst(bits=bits, crc_ok=bool(crc_ok), start=d, cfo_hz=float(cfo), gain=gain, snr_db=float(snr_db),
                 evm=evm, metric=metric, soft=soft[:n_bits])


def awgn_symbols(bits, snr_db: float, fmt: BurstFormat = BurstFormat(),
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """The payload ``bits`` through an ideal AWGN channel at ``snr_db`` (per sample, as a radio link's SNR),
    hard-decided: same modulation and symbol energy as a burst, perfect sync, no preamble. The
    mathematical reference for the over-the-air path.

    Returns:
        uint8 bits, the same length as ``bits``.
    """
    rng = rng or np.random.default_rng()
    b = _check_bits(bits)
    s = _map(b, fmt.bits_per_symbol)
    es_n0 = 10 ** (snr_db / 10) * fmt.sps            # matched filter over sps samples
    noise = (rng.standard_normal(len(s)) + 1j * rng.standard_normal(len(s))) * np.sqrt(1 / es_n0 / 2)
    return (_soft(s + noise.astype(np.complex64), fmt.bits_per_symbol, len(b)) < 0).astype(np.uint8)
