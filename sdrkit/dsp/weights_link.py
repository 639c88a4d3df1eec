"""A network's weights as channel symbols: analog (AirNet) and digital (quantize + entropy code),
the mathematical channel they cross, and their framing into radio bursts (:mod:`sdrkit.dsp.burst`).

The receiver holds the architecture (the graph, its fixed constants, the tensor names and shapes
in transmission order); only the learned parameters travel. Decisions the AirNet seed leaves
open, as implemented here:

* **Scaling.** Each tensor is normalized to unit RMS before mapping; its RMS (float32) travels as
  digital side information (:class:`SideInfo`, 40 bits per tensor, counted in the symbol budget).
  So every weight sees the same *relative* SNR whatever its layer's scale, the spiral winds the
  same way on every tensor (:mod:`sdrkit.dsp.spiral`), and the symbols have unit average power
  exactly (the seed's power constraint ``(1/b) sum |x_i|^2 <= 1``, met per tensor).
* **Pairing.** Plain (1:1) mode puts two consecutive weights of one tensor (C order of the
  flattened tensor) on one complex symbol: ``s = (w[2k] + j w[2k+1]) / (sqrt(2) rms)``; a tensor of
  odd size gets one zero. Pairs never straddle tensors, so an I/Q rotation left by imperfect
  equalization only mixes weights of the same scale. With ``s`` at unit power and complex noise
  ``CN(0, 1/snr)``, each received weight is ``w + rms * n / sqrt(snr)``, ``n ~ N(0, 1)``: the
  weight SNR equals the channel SNR.
* **SK expansion** (``turns > 0`` for a tensor): one weight per complex symbol on the double
  spiral, ``s = spiral.encode(w / rms, turns)`` (1:2 expansion of that tensor).
* **Biases / BatchNorm.** Biases are learned parameters and travel analog like the weights.
  BatchNorm statistics do not exist on the wire: the AirNet student has no BatchNorm, and a graph
  with BN is sent in its folded form (what ``torch.onnx.export`` of an eval-mode network
  writes: BN folded into the preceding conv's weight and bias).

Channel (the seed's Sec. III-A): ``y = h x + z``, ``z ~ CN(0, 1/snr)``, unit-power ``x``;
AWGN: ``h = 1``; slow Rayleigh: one ``h ~ CN(0, 1)`` per delivery, CSI at the receiver, which
equalizes ``y h* / |h|^2`` (= AWGN at SNR ``|h|^2 snr``).

Digital: per-tensor symmetric uniform quantization (``bits``, default 8; scale float32 as side
information), then entropy coding. :func:`entropy_bits` is the ideal memoryless coder's length
(what an arithmetic coder approaches: the capacity baseline's payload); :func:`pack_digital` is an
actual byte string (zlib, level 9) for the radio path.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from sdrkit.dsp import spiral
from sdrkit.errors import ConfigError, StreamError

SIDE_BITS_PER_TENSOR = 48     # float32 RMS + one byte of turns (x 1/32) + one byte of power gain (x 1/8 dB)


@dataclass(frozen=True)
class TensorSpec:
    """A learned tensor as the receiver knows it: name and shape."""

    name: str
    shape: tuple

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def specs_of(tensors: dict) -> list[TensorSpec]:
    """The :class:`TensorSpec` list of an ordered ``{name: array}``."""
    return [TensorSpec(k, tuple(np.shape(v))) for k, v in tensors.items()]


@dataclass
class SideInfo:
    """Per-tensor side information sent digitally ahead of the analog symbols.

    Attributes:
        rms: float32 RMS of each tensor (its normalization).
        turns: spiral turns per tensor (0: plain pairing), quantized to 1/32 turn.
        gain_db: per-tensor power gain (unequal error protection), dB, quantized to 1/8 dB in -16..15.9.
    """

    rms: np.ndarray
    turns: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gain_db: np.ndarray | None = None

    def gains(self) -> np.ndarray:
        """Linear power gains (1 without an allocation)."""
        g = np.zeros(len(self.rms)) if self.gain_db is None else np.asarray(self.gain_db, np.float64)
        return 10 ** (g / 10)

    def to_bytes(self) -> bytes:
        t = np.clip(np.round(np.asarray(self.turns) * 32), 0, 255).astype(np.uint8)
        g = np.zeros(len(self.rms)) if self.gain_db is None else np.asarray(self.gain_db)
        gq = np.clip(np.round(g * 8), -128, 127).astype(np.int8)
        return struct.pack(">H", len(self.rms)) + np.asarray(self.rms, ">f4").tobytes() + t.tobytes() + gq.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "SideInfo":
        if len(data) < 2:
            raise StreamError(f"weights side information is {len(data)} bytes; it needs at least 2")
        n = struct.unpack(">H", data[:2])[0]
        if len(data) < 2 + 6 * n:
            raise StreamError(f"weights side information announces {n} tensors but has {len(data)} bytes "
                              f"(needs {2 + 6 * n})")
        rms = np.frombuffer(data[2:2 + 4 * n], ">f4").astype(np.float32)
        turns = np.frombuffer(data[2 + 4 * n:2 + 5 * n], np.uint8).astype(np.float64) / 32
        gain = np.frombuffer(data[2 + 5 * n:2 + 6 * n], np.int8).astype(np.float64) / 8
        return cls(rms, turns, gain)


def _turns_list(specs, expand) -> np.ndarray:
    expand = expand or {}
    unknown = set(expand) - {s.name for s in specs}
    if unknown:
        raise ConfigError(f"SK expansion asked for unknown tensors {sorted(unknown)}; known: "
                          f"{[s.name for s in specs]}")
    t = np.array([float(expand.get(s.name, 0.0)) for s in specs])
    return np.round(t * 32) / 32


def symbols_per_tensor(specs, expand=None) -> np.ndarray:
    """Complex analog symbols each tensor takes: ``ceil(size / 2)`` plain, ``size`` expanded."""
    t = _turns_list(specs, expand)
    return np.array([s.size if tt > 0 else (s.size + 1) // 2 for s, tt in zip(specs, t)], np.int64)


def analog_symbols(specs, expand=None) -> int:
    """Channel symbols of an analog delivery: the analog ones plus the side information, as QPSK
    (2 bits/symbol)."""
    return int(symbols_per_tensor(specs, expand).sum()) + -(-SIDE_BITS_PER_TENSOR * len(specs) // 2)


def power_allocation(sensitivity: dict, specs, expand=None, max_db: float = 15.0) -> dict:
    """Unequal error protection: per-tensor power gains that minimize ``sum_t s_t / g_t`` (the output
    error, each tensor's sensitivity ``s_t`` times its noise power ``1 / g_t``) under the power
    constraint ``sum_t n_t g_t = sum_t n_t`` (``n_t`` its symbols): ``g_t ~ sqrt(s_t / n_t)``, clipped to
    +-``max_db``.

    Returns:
        ``{name: gain dB}`` (quantized as the side information sends it).
    """
    counts = symbols_per_tensor(specs, expand).astype(np.float64)
    s = np.array([max(float(sensitivity.get(sp.name, 0.0)), 1e-12) for sp in specs])
    g = np.sqrt(s / counts)
    for _ in range(3):                       # normalize, clip, renormalize
        g = g * counts.sum() / np.sum(counts * g)
        g = np.clip(g, 10 ** (-max_db / 10), 10 ** (max_db / 10))
    g = g * counts.sum() / np.sum(counts * g)
    return {sp.name: float(np.round(10 * np.log10(x) * 8) / 8) for sp, x in zip(specs, g)}


def analog_encode(tensors: dict, expand: dict | None = None, power: dict | None = None) -> tuple[np.ndarray, SideInfo]:
    """Weights -> unit-power complex64 symbols, and the side information.

    Args:
        tensors: ordered ``{name: float array}`` (transmission order).
        expand: ``{name: turns}`` for the tensors sent on the SK spiral (1:2); others are paired.
        power: ``{name: gain dB}`` (:func:`power_allocation`); the symbols are rescaled afterwards
            so that the average power stays exactly 1.
    """
    specs = specs_of(tensors)
    turns = _turns_list(specs, expand)
    rms, out = [], []
    for (name, w), t in zip(tensors.items(), turns):
        w = np.asarray(w, np.float64).ravel()
        r = float(np.sqrt(np.mean(w * w))) if w.size else 0.0
        r = np.float32(r if r > 0 else 1.0)
        rms.append(r)
        u = w / float(r)
        if t > 0:
            out.append(spiral.encode(u, t))
        else:
            if u.size % 2:
                u = np.append(u, 0.0)
            out.append(((u[0::2] + 1j * u[1::2]) / np.sqrt(2)).astype(np.complex64))
    if power:
        gdb = np.array([float(power.get(s.name, 0.0)) for s in specs])
        gdb = np.round(gdb * 8) / 8
        gl = 10 ** (gdb / 10)
        total = sum(len(o) for o in out)
        p = sum(len(o) * g * float(np.mean(np.abs(o) ** 2)) for o, g in zip(out, gl)) / total
        gl = gl / p                                   # average power back to 1
        gdb = np.floor(10 * np.log10(gl) * 8) / 8     # rounded down: the power stays <= 1 after quantizing
        gl = 10 ** (gdb / 10)
        out = [o * np.float32(np.sqrt(g)) for o, g in zip(out, gl)]
    else:
        gdb = None
    return np.concatenate(out).astype(np.complex64), SideInfo(np.asarray(rms, np.float32), turns, gdb)


def analog_decode(symbols, specs, side: SideInfo) -> dict:
    """Received (equalized) symbols -> ``{name: float32 array}`` in ``specs``' shapes.

    Raises:
        StreamError: the symbol count does not match the specs and side information.
    """
    y = np.asarray(symbols, np.complex64).ravel()
    if len(side.rms) != len(specs):
        raise StreamError(f"side information covers {len(side.rms)} tensors; the architecture has {len(specs)}")
    counts = [s.size if t > 0 else (s.size + 1) // 2 for s, t in zip(specs, side.turns)]
    if sum(counts) != len(y):
        raise StreamError(f"received {len(y)} analog symbols; the architecture needs {sum(counts)}")
    out, k = {}, 0
    for s, t, r, c, g in zip(specs, side.turns, side.rms, counts, side.gains()):
        seg = y[k:k + c] / np.float32(np.sqrt(g))
        k += c
        if t > 0:
            u = spiral.decode(seg, t)
        else:
            u = np.empty(2 * c)
            u[0::2], u[1::2] = seg.real * np.sqrt(2), seg.imag * np.sqrt(2)
            u = u[:s.size]
        out[s.name] = (u * float(r)).astype(np.float32).reshape(s.shape)
    return out


def channel(symbols, snr_db: float, rng: np.random.Generator, gain: complex = 1.0) -> np.ndarray:
    """``y = h x + z`` with ``z ~ CN(0, 10^(-snr_db/10))``, equalized with CSI: ``y h* / |h|^2``."""
    x = np.asarray(symbols, np.complex64)
    sd = np.sqrt(0.5 * 10 ** (-snr_db / 10))
    z = (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)) * sd
    h = complex(gain)
    return ((h * x + z) * np.conj(h) / max(abs(h) ** 2, 1e-30)).astype(np.complex64)


def rayleigh_gains(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` slow-fading gains ``h ~ CN(0, 1)`` (one per delivery)."""
    return ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)).astype(np.complex128)


def deliver_math(tensors: dict, snr_db: float, rng: np.random.Generator, expand: dict | None = None,
                 gain: complex = 1.0, power: dict | None = None) -> dict:
    """One delivery through the mathematical channel: encode, channel, decode."""
    sym, side = analog_encode(tensors, expand, power)
    return analog_decode(channel(sym, snr_db, rng, gain), specs_of(tensors), side)


# ---- digital ---------------------------------------------------------------------------------

def quantize(tensors: dict, bits: int = 8) -> tuple[dict, np.ndarray]:
    """Per-tensor symmetric uniform quantization: ``q = round(w / scale)``, ``|q| <= 2^(bits-1) - 1``.

    Returns:
        ``({name: int16 array}, float32 scales)``.
    """
    if not 2 <= int(bits) <= 16:
        raise ConfigError(f"quantization bits={bits} must be in 2..16")
    qmax = 2 ** (int(bits) - 1) - 1
    out, scales = {}, []
    for k, w in tensors.items():
        w = np.asarray(w, np.float64)
        m = float(np.max(np.abs(w))) if w.size else 0.0
        s = np.float32(m / qmax if m > 0 else 1.0)
        scales.append(s)
        out[k] = np.clip(np.round(w / float(s)), -qmax, qmax).astype(np.int16)
    return out, np.asarray(scales, np.float32)


def dequantize(q: dict, scales) -> dict:
    return {k: (v.astype(np.float32) * np.float32(s)) for (k, v), s in zip(q.items(), scales)}


def entropy_bits(q: dict) -> float:
    """Ideal entropy-coded length of the quantized tensors (per-tensor empirical entropy, bits),
    plus 32 bits of scale per tensor."""
    total = 0.0
    for v in q.values():
        _, counts = np.unique(v, return_counts=True)
        p = counts / counts.sum()
        total += float(-(counts * np.log2(p)).sum()) + 32
    return total


def pack_digital(q: dict, scales, bits: int = 8) -> bytes:
    """Quantized tensors -> bytes: ``bits``, the scales, then zlib (level 9) of the int8/int16 values."""
    dtype = np.int8 if bits <= 8 else np.int16
    body = b"".join(np.asarray(v, dtype).tobytes() for v in q.values())
    return struct.pack(">BH", int(bits), len(scales)) + np.asarray(scales, ">f4").tobytes() + zlib.compress(body, 9)


def unpack_digital(data: bytes, specs) -> dict:
    """Inverse of :func:`pack_digital` -> ``{name: float32 array}``.

    Raises:
        StreamError: a corrupted or mismatched payload.
    """
    try:
        bits, n = struct.unpack(">BH", data[:3])
        scales = np.frombuffer(data[3:3 + 4 * n], ">f4").astype(np.float32)
        dtype = np.int8 if bits <= 8 else np.int16
        body = np.frombuffer(zlib.decompress(data[3 + 4 * n:]), dtype)
    except (struct.error, zlib.error, ValueError) as exc:
        raise StreamError(f"digital weights payload does not decode ({exc}); the link corrupted it") from exc
    if n != len(specs) or body.size != sum(s.size for s in specs):
        raise StreamError(f"digital payload holds {n} tensors / {body.size} values; the architecture has "
                          f"{len(specs)} / {sum(s.size for s in specs)}")
    out, k = {}, 0
    for s, sc in zip(specs, scales):
        out[s.name] = (body[k:k + s.size].astype(np.float32) * sc).reshape(s.shape)
        k += s.size
    return out


def capacity_symbols(payload_bits: float, snr_db) -> np.ndarray:
    """Channel symbols a capacity-achieving code needs: ``bits / log2(1 + snr)``."""
    return payload_bits / np.log2(1 + 10 ** (np.asarray(snr_db, np.float64) / 10))


# ---- framing for the radio -----------------------------------------------------------------------
#
# A delivery is one TX waveform:
#
#     | control burst (ZC root 7, header) | gap | burst 1 | gap | burst 2 | ... |
#
# The control burst (QPSK with a length header and CRC-32, 4 samples per symbol, at the data bursts'
# mean power) carries MAGIC, the mode, the
# burst count and size, the payload size and the side information; its distinct Zadoff-Chu root
# keeps the data bursts' preambles (root 5) from being taken for it, so the receiver finds it
# anywhere in a long capture and then the data bursts at their known offsets after it.

MAGIC = b"AirN"
MODES = ("analog", "digital")
GAP = 512                       # zero samples between bursts (the data-burst search margin)
CHUNK = 4096                    # analog symbols per burst
DIGITAL_CHUNK_BITS = 32768      # payload bits per digital burst


CONTROL_SPS = 4                 # the control burst's samples per symbol, relative to the data bursts'


def control_format(fmt):
    """The control burst's format: ``fmt`` with a header, Zadoff-Chu root 7 and 4x the samples per
    symbol (6 dB more energy per symbol: it is sent at the data bursts' power and must decode at SNRs
    where the analog payload is still useful)."""
    import dataclasses

    return dataclasses.replace(fmt, zc_root=7 if np.gcd(7, fmt.preamble_len) == 1 else 11, header=True,
                               sps=fmt.sps * CONTROL_SPS)


@dataclass
class Waveform:
    """A delivery's TX samples and what the receiver needs to know of their layout."""

    samples: np.ndarray
    mode: str
    counts: list            # analog symbols / payload bits per data burst
    lengths: list           # samples per data burst
    control_len: int

    def seconds(self, sample_rate: float) -> float:
        """Air time of the waveform at ``sample_rate`` samples/s."""
        return len(self.samples) / float(sample_rate)


def _control_bytes(mode: str, counts: list, extra: bytes) -> bytes:
    head = MAGIC + bytes([MODES.index(mode)]) + struct.pack(">H", len(counts))
    return head + b"".join(struct.pack(">I", c) for c in counts) + extra


def build_waveform(mode: str, fmt, symbols: np.ndarray | None = None, side: SideInfo | None = None,
                   payload: bytes | None = None) -> Waveform:
    """The TX samples of one delivery.

    Args:
        mode: "analog" (``symbols`` + ``side``) or "digital" (``payload`` bytes).
        fmt: the data bursts' :class:`~sdrkit.dsp.burst.BurstFormat`.
    """
    from sdrkit.dsp import burst as bm

    if mode == "analog":
        bursts = analog_bursts(symbols, fmt, CHUNK)
        counts = [min(CHUNK, len(symbols) - i) for i in range(0, len(symbols), CHUNK)]
        extra = side.to_bytes()
    elif mode == "digital":
        bits = bm.bytes_to_bits(payload)
        counts = [min(DIGITAL_CHUNK_BITS, len(bits) - i) for i in range(0, len(bits), DIGITAL_CHUNK_BITS)]
        bursts = [bm.modulate(bits[i:i + DIGITAL_CHUNK_BITS], fmt) for i in range(0, len(bits), DIGITAL_CHUNK_BITS)]
        extra = struct.pack(">I", len(payload))
    else:
        raise ConfigError(f"delivery mode {mode!r} must be one of {MODES}")
    ctl = bm.modulate(bm.bytes_to_bits(_control_bytes(mode, counts, extra)), control_format(fmt))
    # the control burst at the data bursts' mean power, so that a link's SNR (a simulated loopback
    # defines it over the whole TX buffer) is the SNR the payload sees, up to the gaps' share
    p_data = float(np.mean(np.concatenate([np.abs(b) ** 2 for b in bursts])))
    ctl = (ctl * np.float32(np.sqrt(p_data / float(np.mean(np.abs(ctl) ** 2))))).astype(np.complex64)
    gap = np.zeros(GAP, np.complex64)
    parts = [ctl]
    for b in bursts:
        parts += [gap, b]
    parts.append(gap)
    return Waveform(np.concatenate(parts), mode, counts, [len(b) for b in bursts], len(ctl))


@dataclass
class Received:
    """What :func:`parse_waveform` recovered."""

    mode: str
    symbols: np.ndarray | None = None      # analog: equalized symbols
    side: SideInfo | None = None
    payload: bytes | None = None           # digital: the bytes (crc_ok says whether they are intact)
    crc_ok: bool = True
    snr_db: list = field(default_factory=list)
    cfo_hz: list = field(default_factory=list)
    end: int = 0                           # sample index just after the last burst


def parse_waveform(rx, fmt, sample_rate: float | None = None) -> Received:
    """Find a delivery in received samples and recover its symbols or bytes.

    Raises:
        StreamError: no control burst, a control burst that fails its CRC, or a cut-off burst.
    """
    from sdrkit.dsp import burst as bm

    x = np.asarray(rx, np.complex64).ravel()
    cfmt = control_format(fmt)
    c = bm.demodulate(x, cfmt, sample_rate=sample_rate)
    data = bm.bits_to_bytes(c.bits)
    if not c.crc_ok or data[:4] != MAGIC:
        raise StreamError(f"delivery control burst at sample {c.start} is corrupted (CRC ok: {c.crc_ok}, "
                          f"SNR about {c.snr_db:.1f} dB); raise the link SNR or the TX gain")
    mode = MODES[data[4]]
    n = struct.unpack(">H", data[5:7])[0]
    counts = [struct.unpack(">I", data[7 + 4 * i:11 + 4 * i])[0] for i in range(n)]
    extra = data[7 + 4 * n:]
    pos = c.start + bm.burst_length(len(c.bits), cfmt)
    out = Received(mode, snr_db=[c.snr_db], cfo_hz=[c.cfo_hz])
    syms, bits = [], []
    for cnt in counts:
        length = analog_burst_length(cnt, fmt) if mode == "analog" else bm.burst_length(cnt, fmt)
        lo = max(pos + GAP // 2, 0)
        seg = x[lo:pos + GAP + length + GAP // 2]
        if mode == "analog":
            s, b = analog_from_burst(seg, fmt, cnt, sample_rate)
            syms.append(s)
        else:
            b = bm.demodulate(seg, fmt, n_bits=cnt, sample_rate=sample_rate)
            bits.append(b.bits)
            out.crc_ok &= b.crc_ok
        out.snr_db.append(b.snr_db)
        out.cfo_hz.append(b.cfo_hz)
        pos = lo + b.start + length
    out.end = pos
    if mode == "analog":
        out.symbols = np.concatenate(syms) if syms else np.zeros(0, np.complex64)
        out.side = SideInfo.from_bytes(extra)
    else:
        size = struct.unpack(">I", extra[:4])[0]
        out.payload = bm.bits_to_bytes(np.concatenate(bits))[:size]
    return out


def analog_burst_length(m: int, fmt) -> int:
    """Samples of an analog burst carrying ``m`` symbols (the QPSK burst of ``2 m`` bits)."""
    from sdrkit.dsp import burst as bm

    return bm.burst_length(2 * m, fmt)



def analog_bursts(symbols: np.ndarray, fmt, chunk: int = 4096) -> list[np.ndarray]:
    """Analog symbols -> bursts of :mod:`sdrkit.dsp.burst`'s layout (preamble, pilot groups), each
    carrying up to ``chunk`` analog symbols in the data positions of a QPSK burst of ``2 * chunk``
    bits (the 16 symbol positions of its CRC stay QPSK). The receiver's
    :func:`sdrkit.dsp.burst.demodulate` then estimates timing, CFO, gain and phase from the preamble
    and pilots exactly as for a digital burst, and its ``soft`` output *is* the equalized analog
    payload (I, Q interleaved).

    The bursts share one scale, chosen so that the delivery's peak is at most 0.98 (``radio.tx`` needs
    ``|x| <= 1``) and at most ``fmt.amplitude``; preamble and payload share it, so equalization is unchanged.
    """
    from sdrkit.dsp import burst as bm

    out = []
    sps = fmt.sps
    # one scale for every burst (from the largest symbol of the delivery): a scale per burst would give
    # each burst its own SNR on a link whose noise is fixed
    peak_all = max(float(np.max(np.abs(symbols))) if len(symbols) else 1.0, 1.0)
    for i in range(0, len(symbols), chunk):
        seg = np.asarray(symbols[i:i + chunk], np.complex64)
        m = len(seg)
        tmpl = bm.modulate(np.zeros(2 * m, np.uint8), fmt) / np.float32(fmt.amplitude)
        data_pos, _ = bm._layout(m + 16, fmt)        # the burst modem's own layout of data symbols
        start = 2 * fmt.preamble_len + (bm.HEADER_BITS * fmt.header_repeat if fmt.header else 0)
        sym = tmpl[::sps].copy()
        sym[start + data_pos[:m]] = seg
        amp = min(float(fmt.amplitude), 0.98 / peak_all)
        out.append((np.repeat(sym, sps) * np.float32(amp)).astype(np.complex64))
    return out


def analog_from_burst(samples, fmt, m: int, sample_rate: float | None = None):
    """One received analog burst -> (``m`` equalized complex symbols, the :class:`~sdrkit.dsp.burst.Burst`)."""
    from sdrkit.dsp import burst as bm

    b = bm.demodulate(samples, fmt, n_bits=2 * m, sample_rate=sample_rate)
    s = b.soft
    return (s[0::2] + 1j * s[1::2]).astype(np.complex64), b
