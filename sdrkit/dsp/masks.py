"""Time-frequency label masks from SigMF annotations, and annotations back from masks: the one place.

Every labelled recording, generated (:mod:`sdrkit.dsp.scene`) or from elsewhere (any SigMF whose
annotations carry ``core:freq_lower_edge`` / ``core:freq_upper_edge``, e.g. labelled in IQEngine),
becomes a training/evaluation mask through :func:`mask_from_annotations`; live detections become
annotations through :func:`boxes_from_mask`. Nothing else in sdrkit converts between the two.

Grid (:class:`Grid`) -- the layout of a spectrogram "sentence"
    ``P[t, f]``: row ``t`` averages ``average`` consecutive ``nfft``-point Hann FFTs without overlap
    (:func:`sdrkit.dsp.spectrogram.spectrogram`, hop = nfft) in linear power, then dB; so row ``t``
    covers samples ``[t * nfft * average, (t + 1) * nfft * average)``. Column ``f`` is frequency,
    fftshifted as in :mod:`sdrkit.dsp.spectrogram`: column ``f`` is centred on
    ``(f - nfft/2) * fs / nfft`` Hz from the centre frequency, ``fs / nfft`` wide.

Mask values
    the index of the class in ``classes`` (``classes[0]`` is "noise"), or :data:`UNKNOWN` (255) for
    a signal whose label is none of the classes (ignored by class losses, "signal" in 2-class use).
    A pixel takes an annotation's label when the annotation covers at least half of the pixel's
    time span and half of its bin. Where annotations overlap, the one with the higher
    ``sdrkit:snr_db`` wins (then the later one). An annotation without frequency edges covers
    the whole band. Markers (``gap``, ``timeout``) and a model's own predictions
    (``sdrkit:source`` "prediction by ...") are not labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdrkit.errors import ConfigError

CLASSES = ("noise", "lte", "nr", "wifi", "bt", "narrowband")
UNKNOWN = 255
#: other names a labelled recording may use for the same kinds (lower case)
ALIASES = {"lte": "lte", "4g": "lte", "lte-a": "lte", "nr": "nr", "5g": "nr", "5g nr": "nr", "5g-nr": "nr",
           "wifi": "wifi", "wi-fi": "wifi", "wlan": "wifi", "802.11": "wifi", "bt": "bt", "bluetooth": "bt",
           "ble": "bt", "narrowband": "narrowband", "nb": "narrowband", "noise": "noise"}
NOT_LABELS = ("gap", "timeout", "prediction")


@dataclass(frozen=True)
class Grid:
    """A sentence grid: ``nfft`` bins of ``sample_rate / nfft`` Hz, rows of ``nfft * average`` samples."""

    nfft: int
    average: int
    sample_rate: float

    @property
    def row_samples(self) -> int:
        return self.nfft * self.average

    @property
    def bin_hz(self) -> float:
        return self.sample_rate / self.nfft

    def bin_edges(self) -> np.ndarray:
        """``nfft + 1`` bin edges, Hz relative to the centre."""
        return (np.arange(self.nfft + 1) - self.nfft / 2 - 0.5) * self.bin_hz


@dataclass(frozen=True)
class Box:
    """A labelled rectangle: samples ``[start, start + count)``, Hz ``[f_lo, f_hi]`` from the centre."""

    start: int
    count: int
    f_lo: float
    f_hi: float
    label: str
    priority: float = 0.0


def class_of(label, classes=CLASSES) -> int:
    """Mask value of an annotation label: its class index, :data:`UNKNOWN`, or -1 (not a label)."""
    if label is None:
        return UNKNOWN
    name = ALIASES.get(str(label).strip().lower(), str(label).strip().lower())
    if name in NOT_LABELS:
        return -1
    if name in classes:
        return classes.index(name)
    return UNKNOWN


def boxes_from_annotations(annotations, center_frequency: float, sample_rate: float,
                           predictions: bool = False) -> list[Box]:
    """The labelled rectangles of SigMF annotation dicts (``core:*`` keys, as in a ``.sigmf-meta``).

    Args:
        predictions: take only a model's own predictions (``sdrkit:source`` "prediction by ...",
            as ``sdrkit classify --record`` writes them) instead of only the labels.
    """
    out = []
    for a in annotations:
        label = a.get("core:label")
        if label in NOT_LABELS or str(a.get("sdrkit:source", "")).startswith("prediction") != predictions:
            continue
        count = int(a.get("core:sample_count", 0))
        if count <= 0:
            continue
        lo, hi = a.get("core:freq_lower_edge"), a.get("core:freq_upper_edge")
        lo = -sample_rate / 2 if lo is None else float(lo) - center_frequency
        hi = sample_rate / 2 if hi is None else float(hi) - center_frequency
        out.append(Box(int(a.get("core:sample_start", 0)), count, lo, hi, str(label) if label is not None else "",
                       float(a.get("sdrkit:snr_db", 0.0) or 0.0)))
    return out


def recording_boxes(rec, predictions: bool = False) -> list[Box]:
    """The labelled rectangles (or, ``predictions``, a model's detections) of an open recording."""
    return boxes_from_annotations(rec.annotations, rec.center_frequency, rec.sample_rate, predictions)


def mask_from_annotations(boxes, grid: Grid, start: int, rows: int, classes=CLASSES) -> np.ndarray:
    """Label mask ``(rows, nfft)`` uint8 of the sentence starting at sample ``start`` (see the module docstring).

    Raises:
        ConfigError: ``classes[0]`` is not "noise".
    """
    if classes[0] != "noise":
        raise ConfigError(f"mask classes {classes} must start with 'noise' (mask value 0)")
    mask = np.zeros((rows, grid.nfft), np.uint8)
    rs = grid.row_samples
    t_edges = start + np.arange(rows + 1) * rs
    f_edges = grid.bin_edges()
    end = start + rows * rs
    for b in sorted(boxes, key=lambda b: b.priority):
        if b.start >= end or b.start + b.count <= start:
            continue
        v = class_of(b.label, classes)
        if v < 0:
            continue
        t_ov = np.clip(np.minimum(t_edges[1:], b.start + b.count) - np.maximum(t_edges[:-1], b.start), 0, None) / rs
        f_ov = np.clip(np.minimum(f_edges[1:], b.f_hi) - np.maximum(f_edges[:-1], b.f_lo), 0, None) / grid.bin_hz
        rows_on, cols_on = t_ov >= 0.5, f_ov >= 0.5
        if rows_on.any() and cols_on.any():
            mask[np.ix_(rows_on, cols_on)] = v
    return mask


def boxes_from_mask(mask: np.ndarray, grid: Grid, start: int = 0, classes=CLASSES, min_pixels: int = 2) -> list[Box]:
    """Labelled rectangles of a mask: the bounding box of each connected region of one class.

    Args:
        mask: ``(rows, nfft)`` class indices (0 = noise).
        start: stream sample of row 0.
        min_pixels: smaller regions are dropped (isolated false alarms).
    """
    from scipy import ndimage

    out = []
    rs, edges = grid.row_samples, grid.bin_edges()
    for v in np.unique(mask):
        if v == 0 or v >= len(classes) and v != UNKNOWN:
            continue
        lab, n = ndimage.label(mask == v)
        for k, sl in enumerate(ndimage.find_objects(lab), start=1):
            if sl is None or int(np.sum(lab[sl] == k)) < min_pixels:
                continue
            t, f = sl
            out.append(Box(start + t.start * rs, (t.stop - t.start) * rs, float(edges[f.start]), float(edges[f.stop]),
                           classes[v] if v < len(classes) else "signal"))
    return out


def sentence_power(x: np.ndarray, grid: Grid, rows: int | None = None) -> np.ndarray:
    """Power in dB on the grid, ``(rows, nfft)`` float32 (rows = all whole rows of ``x`` by default)."""
    from sdrkit.dsp.spectrogram import spectrogram

    rows = x.shape[-1] // grid.row_samples if rows is None else rows
    s = spectrogram(np.asarray(x[: rows * grid.row_samples]), grid.nfft, grid.nfft)
    lin = np.power(np.float32(10.0), s * np.float32(0.1))
    p = lin.reshape(rows, grid.average, grid.nfft).mean(axis=1)
    return (np.float32(10.0) * np.log10(np.maximum(p, np.float32(1e-30)))).astype(np.float32)


def iou(pred: np.ndarray, true: np.ndarray, n_classes: int, ignore: int = UNKNOWN) -> np.ndarray:
    """Per-class intersection over union of two masks (NaN for a class absent from both)."""
    ok = true != ignore
    p, t = pred[ok].astype(np.int64), true[ok].astype(np.int64)
    out = np.full(n_classes, np.nan)
    for c in range(n_classes):
        u = np.sum((p == c) | (t == c))
        if u:
            out[c] = np.sum((p == c) & (t == c)) / u
    return out
