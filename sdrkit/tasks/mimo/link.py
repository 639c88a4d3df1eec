"""The learned MIMO link in onnxruntime: the model runtime, the radio link and the live predictor.

Transmit: bits -> the trained transmitter (``transmitter.onnx``) -> one symbol per antenna and
channel use -> :class:`~sdrkit.dsp.mimo.BurstFormat` bursts (time-orthogonal pilot slots, data,
guard; RRC pulses) -> ``tx()`` of a ``(N_T, n)`` array on a multi-channel radio.

Receive: ``rx()`` blocks -> matched filter -> timing from the pilot correlation -> least-squares
channel estimate ``Ĥ`` and noise density from the pilots -> three decoders on the same symbols:

* **learned**: the trained receiver (``receiver.onnx``). It was trained on a fixed channel
  ``H_0`` (identity or the 0.3 coupling), so the samples are first mapped onto it:
  ``y' = H_0 Ĥ^+ y``; when the radio's channel is ``H_0`` up to a complex gain (the simulated
  coupling loopback) this is exact and keeps the noise white;
* **MMSE**: ``x̂ = (Ĥ^H Ĥ + N0/P I)^-1 Ĥ^H y`` (unbiased), then the nearest codeword of the
  learned constellation;
* **ML**: exhaustive search of the learned constellation through ``Ĥ`` (where it has at most
  2^16 codewords).

The measured Es/N0 of a link is ``P / N0'`` with ``P`` the codebook's measured power per antenna
(pilots are sent at that power) and ``N0'`` the pilot-residual noise density carried onto the
training channel (:func:`effective_n0`: the estimate ``Ĥ`` includes the radio's gain), so it is on
the same scale as the Es/N0 of the mathematical channel.
"""

from __future__ import annotations

import math

import numpy as np

from sdrkit.errors import ConfigError


class MimoModel:
    """A trained MIMO autoencoder card, run in onnxruntime.

    Attributes:
        n_t, n_r, k, nbits: antennas and bits (``nbits = k N_T`` per channel use).
        h_train: the fixed channel the model was trained on, ``(N_R, N_T)``.
        power: measured transmit power per antenna of the codebook.
        fmt: the card's :class:`~sdrkit.dsp.mimo.BurstFormat`.
    """

    def __init__(self, card, threads: int = 1):
        from sdrkit.dsp.mimo import BurstFormat, MimoChannel
        from sdrkit.runtime.session import onnx_session

        if card.task != "mimo" or card.output.kind != "bits":
            raise ConfigError(f"model card {card.path} is a {card.task!r} model with output {card.output.kind!r}; "
                              f"the mimo link needs a mimo card with output kind 'bits' (models/mimo/<name>)")
        kw = card.architecture.get("kwargs", {})
        self.card = card
        self.n_t, self.n_r, self.k = int(kw["n_t"]), int(kw["n_r"]), int(kw["k"])
        self.nbits = self.n_t * self.k
        self.snr_mode = kw.get("snr_mode", "fixed")
        self.h_train = MimoChannel(self.n_t, self.n_r, kw.get("channel", "coupling"),
                                   float(kw.get("coupling", 0.3))).matrix()
        self.fmt = BurstFormat(**card.extra["burst"])
        self.tx = onnx_session(card.file("transmitter"), threads)
        self.rx = onnx_session(card.file("receiver"), threads)
        self._codebook = None
        p = card.extra.get("codebook_power")
        self.power = float(p) if isinstance(p, (int, float)) and math.isfinite(p) else self._measure_power()

    def _measure_power(self) -> float:
        rng = np.random.default_rng(0)
        return float(np.mean(np.abs(self.encode(rng.integers(0, 2, (65536, self.nbits)))) ** 2))

    def encode(self, bits: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
        """Bits ``(B, k N_T)`` -> complex symbols ``(B, N_T)``."""
        bits = np.asarray(bits, np.float32).reshape(-1, self.nbits)
        out = np.empty((bits.shape[0], self.n_t), np.complex128)
        for a in range(0, bits.shape[0], chunk):
            x = self.tx.run(None, {"bits": bits[a:a + chunk]})[0].astype(np.float64)
            out[a:a + chunk] = x[:, :self.n_t] + 1j * x[:, self.n_t:]
        return out

    def decode_probs(self, y: np.ndarray, snr_db=None, chunk: int = 1 << 16) -> np.ndarray:
        """Received ``(B, N_R)`` complex (on the training channel) -> bit probabilities ``(B, k N_T)``.

        Args:
            snr_db: Es/N0 per use (SNR-conditioned models only; a number or ``(B,)``).
        """
        y = np.asarray(y).reshape(-1, self.n_r)
        yr = np.concatenate([y.real, y.imag], axis=1).astype(np.float32)
        out = np.empty((yr.shape[0], self.nbits), np.float32)
        snr = None
        if self.snr_mode == "conditioned":
            snr = np.broadcast_to(np.asarray(15.0 if snr_db is None else snr_db, np.float32).reshape(-1, 1),
                                  (yr.shape[0], 1)).astype(np.float32)
        for a in range(0, yr.shape[0], chunk):
            feed = {"y": yr[a:a + chunk]}
            if snr is not None:
                feed["snr_db"] = snr[a:a + chunk]
            out[a:a + chunk] = self.rx.run(None, feed)[0]
        return out

    def codebook(self) -> tuple[np.ndarray, np.ndarray]:
        """All ``2^{k N_T}`` codewords ``(C, N_T)`` and their bits ``(C, k N_T)``.

        Raises:
            ConfigError: more than 2^16 codewords.
        """
        from sdrkit.dsp.mimo import int_to_bits

        if self.nbits > 16:
            raise ConfigError(f"{self.nbits} bits per use: 2^{self.nbits} codewords are too many to list "
                              f"(bounded at 2^16)")
        if self._codebook is None:
            lab = int_to_bits(np.arange(1 << self.nbits), self.nbits)
            self._codebook = (self.encode(lab), lab)
        return self._codebook


# ---- decoding bursts ------------------------------------------------------------------------------

def map_to_training_channel(y: np.ndarray, h_est: np.ndarray, h_train: np.ndarray) -> np.ndarray:
    """``y' = H_0 Ĥ^+ y`` per burst: ``y`` ``(bursts, uses, N_R)``, ``h_est`` ``(bursts, N_R, N_T)``."""
    t = h_train[None] @ np.linalg.pinv(h_est)                    # (bursts, N_R, N_R)
    return np.einsum("bij,buj->bui", t, y)


def effective_n0(h_est: np.ndarray, h_train: np.ndarray, n0) -> np.ndarray:
    """Noise density per receive antenna after ``y' = H_0 Ĥ^+ y``: ``n0 mean_i (T T^H)_ii``.

    ``Ĥ`` carries the radio's gain (``y = Ĥ x + n`` with ``x`` in symbol units), so this, not
    ``n0`` itself, is the noise the learned receiver sees on its training channel: ``P / N0'`` is
    the link's Es/N0 on the same scale as the mathematical channel's.
    """
    t = h_train[None] @ np.linalg.pinv(h_est)
    g = np.mean(np.real(np.einsum("bij,bij->bi", t, np.conj(t))), axis=1)
    return np.asarray(n0) * g


def link_es_n0_db(model: MimoModel, h_est, n0) -> np.ndarray:
    """Es/N0 (dB) per burst on the training channel's scale (see :func:`effective_n0`)."""
    return 10 * np.log10(model.power / np.maximum(effective_n0(h_est, model.h_train, n0), 1e-30))


def decode_learned(model: MimoModel, y, h_est, n0) -> np.ndarray:
    """Hard bits ``(bursts, uses, k N_T)`` from the learned receiver."""
    yp = map_to_training_channel(y, h_est, model.h_train)
    snr = link_es_n0_db(model, h_est, n0)
    snr_u = np.repeat(snr, y.shape[1])
    p = model.decode_probs(yp.reshape(-1, model.n_r), snr_u)
    return (p > 0.5).astype(np.uint8).reshape(y.shape[0], y.shape[1], -1)


def decode_mmse(model: MimoModel, y, h_est, n0) -> np.ndarray:
    """Hard bits: LMMSE equalization with ``Ĥ``, then the nearest learned codeword."""
    from sdrkit.dsp.mimo import linear_equalizer

    cb, lab = model.codebook()
    out = []
    for yb, hb, nb in zip(y, h_est, n0):
        z, _ = linear_equalizer(yb, hb, float(nb), model.power, "mmse")
        d = np.sum(np.abs(z[:, None, :] - cb[None]) ** 2, axis=-1)
        out.append(lab[np.argmin(d, axis=1)])
    return np.stack(out)


def decode_ml(model: MimoModel, y, h_est, n0) -> np.ndarray:
    """Hard bits: exhaustive ML over the learned codebook through ``Ĥ``."""
    from sdrkit.dsp.mimo import ml_detect

    cb, lab = model.codebook()
    return np.stack([ml_detect(yb, hb, float(nb), cb, lab) for yb, hb, nb in zip(y, h_est, n0)])


def make_bursts(model: MimoModel, bursts: int, rng: np.random.Generator, lead: int = 256, peak: float = 0.5):
    """Random bits and the ``(N_T, n)`` complex64 waveform that carries them.

    Returns:
        ``(bits (bursts, uses, k N_T) uint8, wave, lead)``: the bursts start ``lead`` samples in.
    """
    fmt = model.fmt
    bits = rng.integers(0, 2, (bursts, fmt.data, model.nbits)).astype(np.uint8)
    x = model.encode(bits.reshape(-1, model.nbits)).reshape(bursts, fmt.data, model.n_t)
    wave = fmt.modulate(x, model.power)
    wave *= peak / max(float(np.max(np.abs(wave))), 1e-12)
    pad = np.zeros((model.n_t, lead), np.complex128)
    wave = np.concatenate([pad, wave, np.zeros((model.n_t, fmt.samples), np.complex128)], axis=1)
    return bits, wave.astype(np.complex64), lead


def receive_bursts(model: MimoModel, samples: np.ndarray, bursts: int, search: int):
    """Sync, channel/noise estimates and data symbols of ``bursts`` bursts in ``(N_R, n)`` samples."""
    fmt = model.fmt
    mf = fmt.matched(np.asarray(samples, np.complex128))
    start = fmt.find_start(mf, search)
    y, h, n0 = fmt.demodulate(mf, start, bursts, model.power)
    return start, y, h, n0


def run_link(model: MimoModel, radio, bursts: int, rng: np.random.Generator, ml: bool = True) -> dict:
    """Send ``bursts`` bursts through ``radio`` (tx then rx) and decode them three ways.

    Returns:
        ``{"es_n0_db", "learned", "mmse", "ml": BerCount dicts, "bits", "start", ...}``.
    """
    from sdrkit.dsp.mimo import count_errors

    bits, wave, lead = make_bursts(model, bursts, rng)
    need = wave.shape[1] + radio.rx_buffer_size
    radio.tx(wave if model.n_t > 1 else wave[0], cyclic=False)
    got, blocks = 0, []
    while got < need:
        blk = radio.rx()
        s = np.atleast_2d(blk.samples)
        blocks.append(s)
        got += s.shape[1]
    radio.tx_destroy_buffer()
    rx = np.concatenate(blocks, axis=1)[:model.n_r]
    start, y, h, n0 = receive_bursts(model, rx, bursts, search=lead + model.fmt.samples)
    n0e = effective_n0(h, model.h_train, n0)
    res = {"bursts": bursts, "start": int(start), "es_n0_db": float(10 * np.log10(model.power / np.mean(n0e))),
           "h_est_first": [[complex(v) for v in row] for row in h[0]]}
    counts = {"learned": count_errors(decode_learned(model, y, h, n0), bits),
              "mmse": count_errors(decode_mmse(model, y, h, n0), bits)}
    if ml and model.nbits <= 16:
        counts["ml"] = count_errors(decode_ml(model, y, h, n0), bits)
    res.update({k: v.to_dict() for k, v in counts.items()})
    res["_counts"] = counts
    return res


def open_link_radio(model: MimoModel, uri: str, **options):
    """Open ``uri`` with ``N_R`` receive channels at the card's sample rate."""
    from sdrkit.radio import open_radio

    radio = open_radio(uri, **options)
    try:
        radio.configure(rx_enabled_channels=tuple(range(model.n_r)), sample_rate=model.card.input.sample_rate)
    except BaseException:
        radio.close()
        raise
    return radio


# ---- live predictor -------------------------------------------------------------------------------

class MimoPredictor:
    """Live decoding of bursts: each frame (twice a burst long) holds one whole burst in its first
    half; the predictor syncs, estimates the channel and decodes it with the learned receiver.

    Outputs: ``bits`` ``(B, uses * k N_T)`` uint8 and ``es_n0_db`` ``(B,)`` (the pilot estimate).
    """

    classes = None

    def __init__(self, card, threads: int = 1):
        self.card = card
        self.model = MimoModel(card, threads)
        self.note = (f"learned {self.model.n_t}x{self.model.n_r} receiver, {self.model.k} bits per antenna; "
                     f"one burst of {self.model.fmt.samples} samples per frame")

    def reset(self) -> None:
        pass

    def predict(self, frames):
        import time

        from sdrkit.runtime.predict import Prediction

        t0 = time.perf_counter()
        frames = np.asarray(frames)
        if frames.ndim != 3 or frames.shape[1] != self.model.n_r:
            raise ConfigError(f"mimo predictor: frames of shape {frames.shape}, expected (batch, {self.model.n_r}, "
                              f"{self.card.input.frame_len})")
        fmt = self.model.fmt
        bits, snr = [], []
        for f in frames:
            with np.errstate(all="ignore"):
                _, y, h, n0 = receive_bursts(self.model, f, 1, search=max(1, f.shape[1] - fmt.samples))
                b = decode_learned(self.model, y, h, n0)
            bits.append(b.reshape(-1))
            snr.append(float(link_es_n0_db(self.model, h, n0)[0]))
        out = {"bits": np.stack(bits).astype(np.uint8), "es_n0_db": np.asarray(snr)}
        return Prediction(n=len(frames), outputs=out, stats={"bursts": len(frames)},
                          seconds=time.perf_counter() - t0)


def calibrated_link(model: MimoModel, uri: str, es_n0_db: float | None, bursts: int, seed) -> dict:
    """:func:`run_link` through ``uri``; for a ``sim:`` radio with ``es_n0_db`` set, the loopback SNR
    is first calibrated (one short pass) so that the Es/N0 measured from the pilots is ``es_n0_db``.

    Returns:
        the :func:`run_link` result plus ``loopback_snr_db`` (None when not a calibrated sim radio).
    """
    rng = np.random.default_rng(list(np.atleast_1d(seed)))
    sim = uri.startswith("sim:")
    if es_n0_db is not None and not sim:
        raise ConfigError(f"--es-n0 sets the simulated loopback SNR; {uri!r} is not a sim: radio (set the gains "
                          f"of a real radio, the link reports the measured Es/N0)")
    snr = None
    if es_n0_db is not None:
        # the pilot estimate is not linear in the loopback SNR near the pulse-shaping ISI floor, so
        # a few short probes (secant steps on the offset) bring it within 0.2 dB
        snr = float(es_n0_db)
        for i in range(4):
            with open_link_radio(model, uri, loopback_snr=snr) as radio:
                probe = run_link(model, radio, max(4, min(bursts, 16)),
                                 np.random.default_rng(list(np.atleast_1d(seed)) + [7, i]), ml=False)
            miss = es_n0_db - probe["es_n0_db"]
            if abs(miss) < 0.2:
                break
            snr += miss
    with open_link_radio(model, uri, **({"loopback_snr": snr} if snr is not None else {})) as radio:
        res = run_link(model, radio, bursts, rng)
    res["loopback_snr_db"] = snr
    return res
