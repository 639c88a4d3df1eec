"""Reading SigMF recordings: metadata through the ``sigmf`` package, samples by memmap.

Large recordings are never loaded whole: :meth:`Recording.read`, :meth:`Recording.blocks`
and :meth:`Recording.read_frames` map only what they return.

Channels: a recording with ``core:num_channels`` = C > 1 stores C interleaved channels per
sample (sample 0 of channels 0..C-1, then sample 1, ...). Sample indices (``read``'s
``start``, annotations) count time steps, and samples come back as ``(C, n)`` complex64,
the shape of a multi-channel :class:`~sdrkit.radio.RxBlock`; one channel comes back as ``(n,)``.
Scaling of the integer datatypes (``sdrkit:full_scale``) is applied in one place,
:func:`sdrkit.capture.formats.to_complex64`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from sdrkit.capture.formats import check_full_scale, component_dtype, sample_bytes, to_complex64
from sdrkit.capture.safejson import load_json
from sdrkit.capture.schema import META_MAX_BYTES, check_sdrkit_fields, validate_sigmf
from sdrkit.errors import CaptureError


VERIFY_ON_OPEN_BYTES = 64 * 2 ** 20   # data files up to this size are checked against core:sha512 when opened


def recording_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(meta, data) paths for a ``.sigmf-meta``, ``.sigmf-data`` or base path."""
    p = Path(path)
    name = p.name
    for suffix in (".sigmf-meta", ".sigmf-data", ".sigmf"):
        if name.endswith(suffix):
            base = p.with_name(name[: -len(suffix)])
            break
    else:
        base = p
    return base.with_name(base.name + ".sigmf-meta"), base.with_name(base.name + ".sigmf-data")


def _similar(meta_path: Path) -> str:
    """``"; did you mean 'captures/demo_mixed.sigmf-meta'?"`` for recordings next to ``meta_path``
    whose names are close to it (``""`` when none is)."""
    import difflib

    parent = meta_path.parent
    try:
        names = [p.name for p in parent.iterdir() if p.name.endswith(".sigmf-meta")] if parent.is_dir() else []
    except OSError:
        return ""
    stems = [n[: -len(".sigmf-meta")] for n in names]
    close = difflib.get_close_matches(meta_path.name[: -len(".sigmf-meta")], stems, n=2, cutoff=0.7)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(str(parent / (c + ".sigmf-meta"))) for c in close) + "?"


class Recording:
    """A SigMF recording opened for reading (use :func:`open_recording`).

    Attributes:
        meta_path, data_path: the two files.
        meta: the whole metadata dict.
        sample_rate: samples/s. center_frequency: Hz (first capture segment).
        datatype: ``core:datatype``. num_samples: whole samples available, per channel.
        num_channels: ``core:num_channels`` (1 when absent).
        full_scale: ``sdrkit:full_scale`` (the integer value that maps to 1.0), or None for the
            datatype's default (see :mod:`sdrkit.capture.formats`).
        interrupted: the writer did not finish (``sdrkit:complete`` false); data past the
            last whole sample was ignored.
    """

    def __init__(self, path, verify: bool | None = None):
        self.meta_path, self.data_path = recording_paths(path)
        where = f"{self.meta_path}: "
        if not self.meta_path.exists():
            raise CaptureError(f"{where}metadata file not found{_similar(self.meta_path)}; pass the path of an "
                               f"existing .sigmf-meta (sdrkit synth or sdrkit capture make one)")
        meta = load_json(self.meta_path, error=CaptureError, where=f"{where}SigMF metadata", max_bytes=META_MAX_BYTES,
                         fix="the file is corrupt or not SigMF; re-record or restore it")
        self._validate(meta, where)
        self.meta = meta
        g = meta["global"]
        self.global_info: dict = g
        self.datatype: str = g["core:datatype"]
        self._cdt = component_dtype(self.datatype, where)
        nch = int(g.get("core:num_channels", 1))      # every field used here was checked by _validate
        self.num_channels: int = nch
        self._sbytes = sample_bytes(self.datatype) * nch     # one time step: every channel
        self.sample_rate = float(g.get("core:sample_rate", 0.0))
        if not self.sample_rate > 0:
            raise CaptureError(f"{where}core:sample_rate is missing or not positive; sdrkit needs the sample rate")
        caps = meta.get("captures") or [{}]
        self.captures: list[dict] = caps
        self.center_frequency = float(caps[0].get("core:frequency", 0.0))
        self.full_scale = check_full_scale(g.get("sdrkit:full_scale"), self.datatype, where)
        self.annotations: list[dict] = sorted(meta.get("annotations") or [],
                                              key=lambda a: a.get("core:sample_start", 0))
        if not self.data_path.exists():
            raise CaptureError(f"{self.data_path}: data file not found (metadata {self.meta_path.name} exists); "
                               f"the recording is incomplete, copy both files together")
        self._offset = int(caps[0].get("core:header_bytes", 0) or 0)
        size = self.data_path.stat().st_size - self._offset
        complete = g.get("sdrkit:complete", True)
        self.interrupted = complete is False
        whole, rest = divmod(max(size, 0), self._sbytes)
        if rest and not self.interrupted:
            what = f"{self.datatype} samples" if nch == 1 else f"{self.datatype} samples of {nch} channels"
            raise CaptureError(f"{self.data_path}: data is truncated: {size} bytes is not a whole number of "
                               f"{self._sbytes}-byte {what}; the file was cut short, re-record it")
        claimed = g.get("sdrkit:sample_count")
        if claimed is not None and int(claimed) > whole and not self.interrupted:
            raise CaptureError(f"{self.data_path}: data is shorter than the metadata claims: {whole} samples "
                               f"on disk, sdrkit:sample_count={claimed}; the data file was truncated")
        self.num_samples = int(whole)
        if not self.interrupted:
            for a in self.annotations:
                end = int(a.get("core:sample_start", 0)) + int(a.get("core:sample_count", 0))
                if end > self.num_samples:
                    raise CaptureError(
                        f"{self.data_path}: data is shorter than the metadata claims: annotation "
                        f"{a.get('core:label', '')!r} ends at sample {end}, data has {self.num_samples}")
        self._mm: np.memmap | None = None
        self.sha512 = g.get("core:sha512")
        self.checksum_ok: bool | None = None          # None: not checked (no core:sha512, or not yet)
        if verify is None:
            verify = self.sha512 is not None and self.data_path.stat().st_size <= VERIFY_ON_OPEN_BYTES
        if verify and self.sha512 is not None and not self.verify():
            raise CaptureError(f"{self.data_path}: checksum mismatch: the data's SHA-512 is not the core:sha512 "
                               f"in {self.meta_path.name}; the samples were changed or corrupted after recording "
                               f"(restore the file, or re-record it)")

    def verify(self) -> bool | None:
        """Check the data file against ``core:sha512`` (whole file, as SigMF defines it).

        Returns:
            True (matches), False (corrupt), or None (the recording carries no checksum).
        """
        if self.sha512 is None:
            return None
        h = hashlib.sha512()
        with open(self.data_path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
        self.checksum_ok = h.hexdigest() == str(self.sha512).lower()
        return self.checksum_ok

    @staticmethod
    def _validate(meta, where: str) -> None:
        if not isinstance(meta, dict) or not isinstance(meta.get("global"), dict):
            raise CaptureError(f"{where}metadata has no 'global' object; not a SigMF recording")
        if "core:datatype" not in meta["global"]:
            raise CaptureError(f"{where}global core:datatype is missing")
        validate_sigmf(meta, where)
        component_dtype(meta["global"]["core:datatype"], where)
        check_sdrkit_fields(meta, where)

    # ---- data ------------------------------------------------------------------------
    def _map(self) -> np.ndarray:
        if self._mm is None:
            if self.num_samples == 0:
                return np.zeros(0, self._cdt)
            self._mm = np.memmap(self.data_path, dtype=self._cdt, mode="r", offset=self._offset,
                                 shape=(2 * self.num_channels * self.num_samples,))
        return self._mm

    def _channel_rows(self, channels) -> list[int] | None:
        """Validated channel indices (None = all, in file order)."""
        if channels is None:
            return None
        rows = [int(c) for c in channels]
        bad = [c for c in rows if not 0 <= c < self.num_channels]
        if not rows or bad or len(set(rows)) != len(rows):
            raise CaptureError(f"{self.meta_path}: channels={rows} must be distinct indices in "
                               f"0..{self.num_channels - 1} (the recording has {self.num_channels} channel(s))")
        return None if rows == list(range(self.num_channels)) else rows

    def _shape(self, x: np.ndarray, rows: list[int] | None) -> np.ndarray:
        """Interleaved complex64 ``(..., n * C)`` -> ``(..., C', n)``, or ``(..., n)`` for one channel."""
        c = self.num_channels
        if c == 1:
            return x
        x = np.swapaxes(x.reshape(x.shape[:-1] + (-1, c)), -1, -2)
        if rows is not None:
            x = x[..., rows, :]
        if x.shape[-2] == 1:
            x = x[..., 0, :]
        return np.ascontiguousarray(x)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate

    def read(self, start: int = 0, count: int | None = None, channels=None) -> np.ndarray:
        """Samples ``[start, start+count)`` as complex64 (scaled to full scale 1.0).

        Args:
            start, count: sample range (time steps; every channel has them all).
            channels: channel indices to return, in this order; None = all.

        Returns:
            complex64 ``(n,)`` for one channel, ``(channels, n)`` for several; owned by the caller.

        Raises:
            CaptureError: the range or a channel is outside the recording.
        """
        if count is None:
            count = self.num_samples - start
        if start < 0 or count < 0 or start + count > self.num_samples:
            raise CaptureError(f"{self.data_path}: samples [{start}, {start + count}) are outside the "
                               f"recording's {self.num_samples} samples")
        rows = self._channel_rows(channels)
        w = 2 * self.num_channels
        raw = self._map()[w * start: w * (start + count)]
        out = to_complex64(raw, self.datatype, self.full_scale)
        if self.num_channels > 1:
            return self._shape(out, rows)      # a fresh array
        # cf32 comes back as a view of the map: copy so callers own their samples
        return out.copy() if self.datatype == "cf32_le" else out

    def read_frames(self, idx, frame_len: int, channels=None) -> np.ndarray:
        """Frames ``k * frame_len .. (k + 1) * frame_len`` for each ``k`` in ``idx``, as complex64.

        The recording is viewed as consecutive frames of ``frame_len`` samples (a partial
        frame at the end is not addressable); only the frames asked for are read.

        Args:
            idx: frame indices (any order, repeats allowed).
            frame_len: samples per frame.
            channels: channel indices to return, in this order; None = all.

        Returns:
            complex64 ``(len(idx), frame_len)`` for one channel, ``(len(idx), channels, frame_len)``
            for several, scaled like :meth:`read` (``sdrkit:full_scale`` honoured).

        Raises:
            CaptureError: ``frame_len`` < 1, a frame index outside the recording, or a bad channel.
        """
        if int(frame_len) != frame_len or frame_len < 1:
            raise CaptureError(f"{self.meta_path}: frame_len={frame_len} must be a positive integer number of samples")
        frame_len = int(frame_len)
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        n_frames = self.num_samples // frame_len
        if idx.size and (idx.min() < 0 or idx.max() >= n_frames):
            bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
            raise CaptureError(f"{self.data_path}: frame {bad} is outside the recording's {n_frames} frames of "
                               f"{frame_len} samples (valid indices 0..{n_frames - 1})")
        rows = self._channel_rows(channels)
        w = 2 * self.num_channels * frame_len
        raw = self._map()[: n_frames * w].reshape(n_frames, w)[idx]
        return self._shape(to_complex64(raw, self.datatype, self.full_scale), rows)

    def blocks(self, block_size: int, start: int = 0, channels=None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start_index, samples)`` blocks of ``block_size`` (last may be short), shaped as :meth:`read`."""
        i = start
        while i < self.num_samples:
            n = min(block_size, self.num_samples - i)
            yield i, self.read(i, n, channels)
            i += n

    def labels(self) -> list[tuple[int, int, str | None, dict]]:
        """``(start, count, label, sdrkit fields)`` of every annotation."""
        out = []
        for a in self.annotations:
            fields = {k.split(":", 1)[1]: v for k, v in a.items() if k.startswith("sdrkit:")}
            out.append((int(a.get("core:sample_start", 0)), int(a.get("core:sample_count", 0)),
                        a.get("core:label"), fields))
        return out

    def close(self) -> None:
        """Release the memory map."""
        self._mm = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        ch = f" x {self.num_channels} channels" if self.num_channels > 1 else ""
        return (f"Recording({str(self.meta_path)!r}, {self.num_samples} samples{ch} of {self.datatype} at "
                f"{self.sample_rate:g} S/s, fc {self.center_frequency:g} Hz)")


def open_recording(path, verify: bool | None = None) -> Recording:
    """Open a SigMF recording (``.sigmf-meta``, ``.sigmf-data`` or base path).

    A path that does not exist relative to the working directory is looked up among the
    bundled captures (``captures/demo_mixed.sigmf-meta`` or just ``demo_mixed``, see
    :mod:`sdrkit.resources`), so the bundled recordings open from any directory.

    Args:
        verify: check the data against ``core:sha512``: None (default) when the recording has one
            and its data file is at most :data:`VERIFY_ON_OPEN_BYTES`; True always; False never
            (:meth:`Recording.verify` checks later).

    Raises:
        CaptureError: missing or invalid meta, missing data, unknown datatype, truncated data,
            a checksum mismatch.
    """
    if isinstance(path, (str, os.PathLike)) and not recording_paths(path)[0].exists():
        from sdrkit.resources import resolve

        meta = recording_paths(path)[0]
        found = resolve("captures", meta, must_exist=False)
        if found != meta:
            path = found
    return Recording(path, verify=verify)
