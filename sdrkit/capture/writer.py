"""Crash-safe SigMF writing.

How a recording survives its writer being killed:

1. The ``.sigmf-meta`` is written first, atomically (temp file + ``os.replace``), with
   ``sdrkit:complete: false``. From then on the recording is always readable.
2. Samples are appended to ``.sigmf-data`` in whole-sample writes. A kill mid-``write()``
   can leave a partial trailing sample; readers of an incomplete recording ignore it.
3. :meth:`RecordingWriter.flush` fsyncs the data and rewrites the meta atomically with the
   annotations so far (labels, gaps). Flushes also happen every ``flush_interval`` seconds.
4. :meth:`RecordingWriter.close` writes the final meta with ``sdrkit:complete: true`` and
   ``sdrkit:sample_count``; a complete recording whose data does not match is an error.

So an interrupted recording holds every sample written before the kill (all of them up to
the last flush are on disk even after a power loss) and the annotations up to the last flush.

Channels: ``num_channels=C`` writes a multi-channel recording (``core:num_channels``); each
:meth:`RecordingWriter.write` then takes a ``(C, n)`` array (the shape of a multi-channel
:class:`~sdrkit.radio.RxBlock`) and interleaves it per sample, as SigMF lays channels out.
"""

from __future__ import annotations

import datetime as _dt
import json
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from sdrkit.capture.formats import DATATYPES, check_full_scale, from_complex64, sample_bytes
from sdrkit.capture.reader import recording_paths
from sdrkit.errors import CaptureError

SIGMF_VERSION = "1.2.0"


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _namespaced(fields: dict) -> dict:
    """``snr_db`` -> ``sdrkit:snr_db``; keys that already have a namespace stay."""
    out = {}
    for k, v in fields.items():
        if v is None:
            continue
        if isinstance(v, np.generic):
            v = v.item()
        out[k if ":" in k else f"sdrkit:{k}"] = v
    return out


def _atomic_write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RecordingWriter:
    """Write a SigMF recording block by block; see the module docstring for crash safety.

    Args:
        path: base path, ``.sigmf-meta`` or ``.sigmf-data`` path.
        sample_rate: samples/s. center_frequency: Hz.
        datatype: ``cf32_le`` (default), ``ci16_le``, ``ci8`` or ``cu8``.
        hw: ``core:hw`` text (radio model, serial).
        description: ``core:description``.
        full_scale: integer datatypes only; value that maps to 1.0 (stored as ``sdrkit:full_scale``;
            None = the datatype's default, see :mod:`sdrkit.capture.formats`).
        num_channels: channels per sample (``core:num_channels``); ``write`` takes ``(C, n)`` when > 1.
        extra_global: more global fields; keys without a namespace go in ``sdrkit:``
            (e.g. ``radio_config``, ``command``, ``seed``).
        overwrite: replace an existing recording.
        flush_interval: seconds between automatic flushes (data fsync + meta rewrite).

    Raises:
        CaptureError: the recording exists (and not ``overwrite``), bad datatype, full scale or
            channel count, unwritable path.
    """

    def __init__(self, path, *, sample_rate: float, center_frequency: float, datatype: str = "cf32_le",
                 hw: str | None = None, description: str = "", full_scale: float | None = None,
                 extra_global: dict | None = None, overwrite: bool = False, flush_interval: float = 1.0,
                 num_channels: int = 1):
        self.meta_path, self.data_path = recording_paths(path)
        if datatype not in DATATYPES:
            raise CaptureError(f"{self.meta_path}: cannot write datatype {datatype!r}; use one of {', '.join(DATATYPES)}")
        if not sample_rate or sample_rate <= 0:
            raise CaptureError(f"{self.meta_path}: sample_rate={sample_rate} must be > 0 samples/s")
        if isinstance(num_channels, bool) or int(num_channels) != num_channels or num_channels < 1:
            raise CaptureError(f"{self.meta_path}: num_channels={num_channels!r} must be an integer >= 1")
        full_scale = check_full_scale(full_scale, datatype, f"{self.meta_path}: ")
        if not overwrite and (self.meta_path.exists() or self.data_path.exists()):
            raise CaptureError(f"{self.meta_path} already exists. Use overwrite=True (--overwrite) to overwrite.")
        self.datatype = datatype
        self.full_scale = full_scale
        self.num_channels = int(num_channels)
        self._sbytes = sample_bytes(datatype) * self.num_channels
        g = {
            "core:datatype": datatype,
            "core:version": SIGMF_VERSION,
            "core:sample_rate": float(sample_rate),
            "core:recorder": f"sdrkit {_version()}",
            "core:num_channels": self.num_channels,
            "core:extensions": [{"name": "sdrkit", "version": _version(), "optional": True}],
        }
        if description:
            g["core:description"] = description
        if hw:
            g["core:hw"] = hw
        if full_scale is not None:
            g["sdrkit:full_scale"] = float(full_scale)
        g.update(_namespaced(extra_global or {}))
        g.setdefault("sdrkit:command", " ".join([Path(sys.argv[0]).name] + sys.argv[1:]))
        g["sdrkit:complete"] = False
        self._global = g
        self._captures = [{"core:sample_start": 0, "core:frequency": float(center_frequency),
                           "core:datetime": _utc_now()}]
        self._annotations: list[dict] = []
        self._n = 0
        self._flush_interval = flush_interval
        self._last_flush = time.monotonic()
        self._closed = False
        self._sha = hashlib.sha512()
        try:
            self.meta_path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.data_path, "wb")
            self._write_meta()
        except OSError as exc:
            raise CaptureError(f"{self.meta_path}: cannot create recording: {exc.strerror}") from exc

    # ---- metadata --------------------------------------------------------------------
    def _meta(self) -> dict:
        ann = sorted(self._annotations, key=lambda a: a["core:sample_start"])
        return {"global": dict(self._global), "captures": self._captures, "annotations": ann}

    def _write_meta(self) -> None:
        _atomic_write_json(self.meta_path, self._meta())

    @property
    def num_samples(self) -> int:
        """Samples written so far."""
        return self._n

    def annotate(self, start: int, count: int, label: str | None = None, **fields) -> None:
        """Add an annotation; ``fields`` go in the ``sdrkit:`` namespace (``snr_db=10`` -> ``sdrkit:snr_db``)."""
        if start < 0 or count < 0:
            raise CaptureError(f"annotation start={start}, count={count} must be >= 0")
        a = {"core:sample_start": int(start), "core:sample_count": int(count)}
        if label is not None:
            a["core:label"] = str(label)
        a.update(_namespaced(fields))
        self._annotations.append(a)

    def add_gap(self, start: int, lost: int) -> None:
        """Record that ``lost`` samples were dropped before sample ``start`` of the file."""
        self.annotate(start, 0, "gap", lost_samples=int(lost),
                      comment=f"{int(lost)} samples lost by the radio before this point")

    def set_global(self, **fields) -> None:
        """Add or change global fields (namespaced like :meth:`annotate`)."""
        self._global.update(_namespaced(fields))

    # ---- data ------------------------------------------------------------------------
    def write(self, samples) -> int:
        """Append complex samples (converted to the file's datatype); returns how many (per channel).

        Args:
            samples: ``(n,)`` for a one-channel recording (``(1, n)`` is accepted too),
                ``(num_channels, n)`` for a multi-channel one.

        Raises:
            CaptureError: after close(), or a shape that does not match ``num_channels``.
        """
        if self._closed:
            raise CaptureError(f"{self.meta_path}: write() after close()")
        x = np.asarray(samples)
        c = self.num_channels
        if x.ndim == 2 and x.shape[0] == c:
            n = x.shape[1]
            x = x[0] if c == 1 else x.T         # (n, C): sample by sample, channels interleaved
        elif x.ndim == 1 and c == 1:
            n = x.shape[0]
        else:
            want = "a 1-D array (n,)" if c == 1 else f"a ({c}, n) array, one row per channel"
            raise CaptureError(f"{self.meta_path}: write() takes {want} of complex samples for a "
                               f"{c}-channel recording, got shape {x.shape}")
        raw = memoryview(from_complex64(x, self.datatype, self.full_scale)).cast("B")
        self._fh.write(raw)
        self._sha.update(raw)
        self._n += n
        if time.monotonic() - self._last_flush >= self._flush_interval:
            self.flush()
        return int(n)

    def flush(self) -> None:
        """Make everything written so far durable: fsync data, rewrite meta atomically."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._write_meta()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Finalize: the recording is marked complete with its sample count."""
        if self._closed:
            return
        self._closed = True
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._global["sdrkit:complete"] = True
        self._global["sdrkit:sample_count"] = self._n
        self._global["core:sha512"] = self._sha.hexdigest()     # of the whole data file, as sigmf checks it
        self._write_meta()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        # an exception mid-capture still leaves a complete, valid recording of what was written
        self.close()


def _version() -> str:
    from sdrkit import __version__

    return __version__


def write_recording(path, samples, *, sample_rate: float, center_frequency: float, datatype: str = "cf32_le",
                    annotations=(), **kw) -> Path:
    """Write a whole recording at once; returns the ``.sigmf-meta`` path.

    Args:
        samples: complex ``(n,)`` for one channel or ``(C, n)`` for C channels (one row per
            channel, e.g. one per array element); ``core:num_channels`` follows the shape.
        annotations: iterable of dicts ``{"start", "count", "label", **fields}``.
        **kw: passed to :class:`RecordingWriter`.
    """
    x = np.asarray(samples, dtype=np.complex64)
    if x.ndim not in (1, 2):
        raise CaptureError(f"write_recording() takes (n,) or (channels, n) complex samples, got shape {x.shape}")
    kw.setdefault("num_channels", 1 if x.ndim == 1 else x.shape[0])
    with RecordingWriter(path, sample_rate=sample_rate, center_frequency=center_frequency,
                         datatype=datatype, **kw) as w:
        w.write(x)
        for a in annotations:
            a = dict(a)
            w.annotate(a.pop("start"), a.pop("count"), a.pop("label", None), **a)
    return w.meta_path
