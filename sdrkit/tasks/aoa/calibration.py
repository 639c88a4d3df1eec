"""AoA array calibration files: per-channel complex gain corrections from known-direction shots.

A calibration session records ``k`` (<= 16) frames from known directions (a source on a
servo, or a recording's annotated frames), estimates the array's current per-channel
response ``g`` relative to element 0 (:func:`sdrkit.dsp.array.estimate_channel_gains`), and
stores the correction ``c = reference / g`` that a live predictor multiplies each channel by
before the model. ``reference`` is the response the model expects: the front end the network
was trained on (``card.extra["reference_gains"]``, measured the same way on cold shots at
training time), or the ideal array (all ones) for MUSIC/ESPRIT. So the network needs no
retraining when the front end drifts, and a classical estimator gets a calibrated array.

The file is plain JSON, versioned and validated on load::

    {"calibration_version": 1, "task": "aoa", "kind": "array-gains",
     "front_end": "bench-a", "date": "2026-12-01T23:59:00Z", "shots": 16,
     "gains": [[re, im], ...], "reference": [[re, im], ...], "correction": [[re, im], ...],
     "model": {"card": "models/aoa/card.json", "name": "..."},
     "array": {"rows": 2, "cols": 2, "spacing": 0.5}, "source": {"kind": "capture", "path": "..."}}
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sdrkit.errors import ConfigError, ModelError

AOA_CALIBRATION_VERSION = 1
MAX_SHOTS = 16


def _pairs(z) -> list:
    z = np.asarray(z, np.complex128)
    return [[round(float(v.real), 8), round(float(v.imag), 8)] for v in z]


def _complex(v, where: str, name: str, n: int | None) -> np.ndarray:
    try:
        a = np.asarray(v, np.float64)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{where}: {name} must be a list of [re, im] pairs ({exc})") from exc
    if a.ndim != 2 or a.shape[1] != 2 or (n is not None and a.shape[0] != n) or not np.all(np.isfinite(a)):
        raise ModelError(f"{where}: {name} has shape {a.shape}; it must be {n or 'elements'} finite [re, im] pairs")
    z = a[:, 0] + 1j * a[:, 1]
    if np.any(np.abs(z) < 1e-9):
        raise ModelError(f"{where}: {name} has a zero entry; re-run 'sdrkit calibrate aoa'")
    return z


@dataclass(frozen=True)
class ArrayCalibration:
    """Per-channel correction of one array front end (module docstring)."""

    front_end: str
    gains: np.ndarray
    reference: np.ndarray
    shots: int
    date: str
    model: dict = field(default_factory=dict)
    array: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    seconds: float = 0.0
    path: str = ""

    @property
    def correction(self) -> np.ndarray:
        return self.reference / self.gains

    def apply(self, frames: np.ndarray) -> np.ndarray:
        """``frames`` (B, E, N) with each channel multiplied by its correction (complex64)."""
        f = np.asarray(frames)
        if f.ndim != 3 or f.shape[1] != len(self.gains):
            raise ModelError(f"calibration {self.path or '(unsaved)'} is for {len(self.gains)} channels, the frames "
                             f"have shape {f.shape}")
        return (f * self.correction.astype(np.complex64)[None, :, None]).astype(np.complex64)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("path")
        d.update(calibration_version=AOA_CALIBRATION_VERSION, task="aoa", kind="array-gains",
                 gains=_pairs(self.gains), reference=_pairs(self.reference), correction=_pairs(self.correction))
        return d

    def save(self, path) -> Path:
        from sdrkit.capture.safejson import write_json

        return write_json(path, self.to_dict())


def load_array_calibration(path, channels: int | None = None) -> ArrayCalibration:
    """Read and validate an AoA calibration file.

    Raises:
        ModelError: unreadable, another version or task, malformed or non-finite gains, or
            ``channels`` given and different from the file's.
    """
    from sdrkit.capture.safejson import load_json

    p = Path(path)
    where = f"calibration {p}"
    if not p.exists():
        raise ModelError(f"{where} not found; create one with 'sdrkit calibrate aoa --capture REC'")
    d = load_json(p, error=ModelError, where=where, fix="re-run 'sdrkit calibrate aoa'")
    if not isinstance(d, dict) or d.get("calibration_version") != AOA_CALIBRATION_VERSION \
            or d.get("task") != "aoa" or d.get("kind") != "array-gains":
        raise ModelError(f"{where}: not an AoA array calibration (need calibration_version "
                         f"{AOA_CALIBRATION_VERSION}, task 'aoa', kind 'array-gains'); re-run 'sdrkit calibrate aoa'")
    g = _complex(d.get("gains"), where, "gains", channels)
    r = _complex(d.get("reference"), where, "reference", len(g))
    shots = d.get("shots")
    if not isinstance(shots, int) or isinstance(shots, bool) or not 1 <= shots <= 10000:
        raise ModelError(f"{where}: shots {shots!r} must be an integer >= 1")
    for k in ("model", "array", "source"):
        if not isinstance(d.get(k, {}), dict):
            raise ModelError(f"{where}: field {k!r} must be an object")
    return ArrayCalibration(front_end=str(d.get("front_end", "")), gains=g, reference=r, shots=shots,
                            date=str(d.get("date", "")), model=dict(d.get("model") or {}),
                            array=dict(d.get("array") or {}), source=dict(d.get("source") or {}),
                            seconds=float(d.get("seconds", 0.0) or 0.0), path=str(p))


def reference_gains(card) -> np.ndarray:
    """The response a card's model expects: ``extra.reference_gains`` or the ideal array."""
    ref = card.extra.get("reference_gains")
    if ref is None:
        return np.ones(card.input.channels, np.complex128)
    return _complex(ref, f"model card {card.path}", "extra.reference_gains", card.input.channels)


def _principal(frames) -> np.ndarray:
    """(k, E) principal eigenvector of each shot's sample covariance."""
    x = np.asarray(frames, np.complex128)
    R = np.einsum("ken,kfn->kef", x, x.conj()) / x.shape[-1]
    return np.linalg.eigh(R)[1][..., -1]


def estimate_response(frames, geometry, az_deg, el_deg, iters: int = 8) -> np.ndarray:
    """The array's full response matrix ``M`` (E x E, ``M[0, 0]`` = 1) from known-direction shots:
    the least-squares fit of each shot's principal eigenvector ``v_i ~ lambda_i M a(dir_i)``
    (alternating over the per-shot scales ``lambda_i`` and ``M``). Unlike per-channel gains it
    holds the mutual coupling, so the gains measured against it do not depend on the shots'
    directions. Needs well over ``E`` shots (the training-time reference uses all cold shots).

    Raises:
        ConfigError: fewer than ``2 * E`` shots.
    """
    from sdrkit.dsp.array import estimate_channel_gains, steering

    v = _principal(frames)
    k, E = v.shape
    if k < 2 * E:
        raise ConfigError(f"{k} known-direction shots cannot fit a {E}x{E} array response; give >= {2 * E}")
    a = steering(geometry, np.asarray(az_deg, float), np.asarray(el_deg, float))       # (k, E)
    M = np.diag(estimate_channel_gains(frames, geometry, az_deg, el_deg))
    for _ in range(iters):
        Ma = a @ M.T                                                                      # (k, E)
        lam = np.sum(Ma.conj() * v, axis=1) / np.sum(np.abs(Ma) ** 2, axis=1)          # v ~ lam * M a
        b = lam[:, None] * a
        M = np.linalg.lstsq(b, v, rcond=None)[0].T                                        # v_i^T = b_i^T M^T
        M = M / M[0, 0]
    return M


def gains_against(frames, geometry, az_deg, el_deg, response: np.ndarray) -> np.ndarray:
    """Per-channel complex gain change (element 0 = 1) of the array since ``response`` was
    measured: each shot's principal eigenvector over ``response @ a(dir)``, averaged as
    :func:`sdrkit.dsp.array.estimate_channel_gains` averages (log magnitude, circular phase)."""
    from sdrkit.dsp.array import steering

    v = _principal(frames)
    Ma = steering(geometry, np.asarray(az_deg, float), np.asarray(el_deg, float)) @ np.asarray(response).T
    d = v / Ma
    d = d / d[:, :1]
    mag = 10 ** (np.mean(20 * np.log10(np.abs(d)), axis=0) / 20)
    return mag * np.exp(1j * np.angle(np.mean(d / np.abs(d), axis=0)))


def reference_response(card):
    """``card.extra["reference_response"]`` as an E x E complex matrix, or None."""
    ref = card.extra.get("reference_response")
    if ref is None:
        return None
    E = card.input.channels
    rows = [_complex(r, f"model card {card.path}", "extra.reference_response", E) for r in ref]
    if len(rows) != E:
        raise ModelError(f"model card {card.path}: extra.reference_response has {len(rows)} rows, expected {E}")
    return np.stack(rows)


def calibrate_frames(card, frames, az, el, *, shots: int, front_end: str = "", source: dict | None = None,
                     geometry=None) -> ArrayCalibration:
    """A calibration from the first ``shots`` known-direction frames.

    Raises:
        ConfigError: ``shots`` outside 1..16 or more than the frames given.
    """
    from sdrkit.dsp.array import ArrayGeometry, estimate_channel_gains

    if not 1 <= shots <= MAX_SHOTS:
        raise ConfigError(f"--shots {shots} must be in 1..{MAX_SHOTS} known-direction frames")
    if len(frames) < shots:
        raise ConfigError(f"only {len(frames)} known-direction frames, fewer than --shots {shots}; record more "
                          f"or lower --shots")
    geo = geometry or ArrayGeometry(**card.extra.get("array", {"rows": 2, "cols": 2, "spacing": 0.5}))
    t0 = time.perf_counter()
    ref = reference_gains(card)
    M = reference_response(card)
    if M is None:
        g = estimate_channel_gains(frames[:shots], geo, np.asarray(az)[:shots], np.asarray(el)[:shots])
    else:
        # the card holds the training array's full response (coupling included): the gain change
        # since then, measured against it, is free of the shots' direction-dependent coupling
        # bias; written as gains = reference * change, so correction = reference / gains = 1 / change
        g = ref * gains_against(frames[:shots], geo, np.asarray(az)[:shots], np.asarray(el)[:shots], M)
    return ArrayCalibration(front_end=front_end, gains=g, reference=ref, shots=int(shots),
                            date=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            model={"card": str(card.path), "name": card.name}, array=geo.to_dict(),
                            source=dict(source or {}), seconds=time.perf_counter() - t0)


def calibrate_capture(card_path, capture, *, shots: int, out=None, front_end: str | None = None):
    """Load the card, read the known-direction frames of a recording, calibrate, write the file.

    Returns:
        (ArrayCalibration, seconds for the whole session: card, capture, estimate, file).
    """
    from sdrkit.runtime.card import load_card
    from sdrkit.tasks.aoa.data import read_split

    t0 = time.perf_counter()
    card = load_card(card_path)
    if card.task != "aoa":
        raise ConfigError(f"model card {card.path} is a {card.task!r} model; an AoA calibration needs an aoa card")
    s = read_split(capture, card.input.frame_len)
    if s.x.shape[1] != card.input.channels:
        raise ConfigError(f"recording {capture} has {s.x.shape[1]} channels, model {card.name!r} takes "
                          f"{card.input.channels}")
    from sdrkit.capture import open_recording

    with open_recording(capture) as rec:
        fe = front_end or rec.global_info.get("sdrkit:front_end", "unknown")
    cal = calibrate_frames(card, s.x, s.az, s.el, shots=shots, front_end=str(fe),
                           source={"kind": "capture", "path": str(capture)})
    if out:
        cal.save(out)
        cal = ArrayCalibration(**{**cal.__dict__, "path": str(out)})
    return cal, time.perf_counter() - t0
