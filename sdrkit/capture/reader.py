"""Reading SigMF recordings: metadata through the ``sigmf`` package, samples by memmap.

Large recordings are never loaded whole: :meth:`Recording.read` and
:meth:`Recording.blocks` map only what they return.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from sdrkit.capture.formats import component_dtype, sample_bytes, to_complex64
from sdrkit.errors import CaptureError


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


class Recording:
    """A SigMF recording opened for reading (use :func:`open_recording`).

    Attributes:
        meta_path, data_path: the two files.
        meta: the whole metadata dict.
        sample_rate: samples/s. center_frequency: Hz (first capture segment).
        datatype: ``core:datatype``. num_samples: whole samples available.
        interrupted: the writer did not finish (``sdrkit:complete`` false); data past the
            last whole sample was ignored.
    """

    def __init__(self, path):
        self.meta_path, self.data_path = recording_paths(path)
        where = f"{self.meta_path}: "
        if not self.meta_path.exists():
            raise CaptureError(f"{where}metadata file not found; pass the path of an existing .sigmf-meta "
                               f"(sdrkit synth or sdrkit capture make one)")
        try:
            meta = json.loads(self.meta_path.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            raise CaptureError(f"{where}cannot read metadata: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise CaptureError(f"{where}metadata is not valid JSON ({exc.msg} at line {exc.lineno}); "
                               f"the file is corrupt, re-record or restore it") from exc
        self._validate(meta, where)
        self.meta = meta
        g = meta["global"]
        self.global_info: dict = g
        self.datatype: str = g["core:datatype"]
        self._cdt = component_dtype(self.datatype, where)
        self._sbytes = sample_bytes(self.datatype)
        self.sample_rate = float(g.get("core:sample_rate", 0.0))
        if not self.sample_rate > 0:
            raise CaptureError(f"{where}core:sample_rate is missing or not positive; sdrkit needs the sample rate")
        caps = meta.get("captures") or [{}]
        self.captures: list[dict] = caps
        self.center_frequency = float(caps[0].get("core:frequency", 0.0))
        self.full_scale = g.get("sdrkit:full_scale")
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
            raise CaptureError(f"{self.data_path}: data is truncated: {size} bytes is not a whole number of "
                               f"{self._sbytes}-byte {self.datatype} samples; the file was cut short, re-record it")
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

    @staticmethod
    def _validate(meta, where: str) -> None:
        from sigmf import SigMFFile
        from sigmf.error import SigMFError

        if not isinstance(meta, dict) or not isinstance(meta.get("global"), dict):
            raise CaptureError(f"{where}metadata has no 'global' object; not a SigMF recording")
        if "core:datatype" not in meta["global"]:
            raise CaptureError(f"{where}global core:datatype is missing")
        component_dtype(meta["global"]["core:datatype"], where)
        try:
            SigMFFile(metadata=meta, skip_checksum=True).validate()
        except SigMFError as exc:
            raise CaptureError(f"{where}invalid SigMF metadata: {exc}") from exc
        except Exception as exc:  # jsonschema raises its own ValidationError
            if type(exc).__name__ == "ValidationError":
                raise CaptureError(f"{where}invalid SigMF metadata: {exc.message}") from exc
            raise

    # ---- data ------------------------------------------------------------------------
    def _map(self) -> np.ndarray:
        if self._mm is None:
            if self.num_samples == 0:
                return np.zeros(0, self._cdt)
            self._mm = np.memmap(self.data_path, dtype=self._cdt, mode="r", offset=self._offset,
                                 shape=(2 * self.num_samples,))
        return self._mm

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate

    def read(self, start: int = 0, count: int | None = None) -> np.ndarray:
        """Samples ``[start, start+count)`` as complex64 (scaled to full scale 1.0).

        Raises:
            CaptureError: the range is outside the recording.
        """
        if count is None:
            count = self.num_samples - start
        if start < 0 or count < 0 or start + count > self.num_samples:
            raise CaptureError(f"{self.data_path}: samples [{start}, {start + count}) are outside the "
                               f"recording's {self.num_samples} samples")
        raw = self._map()[2 * start: 2 * (start + count)]
        out = to_complex64(raw, self.datatype, self.full_scale)
        # cf32 comes back as a view of the map: copy so callers own their samples
        return out.copy() if self.datatype == "cf32_le" else out

    def blocks(self, block_size: int, start: int = 0) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start_index, samples)`` blocks of ``block_size`` (last may be short)."""
        i = start
        while i < self.num_samples:
            n = min(block_size, self.num_samples - i)
            yield i, self.read(i, n)
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
        return (f"Recording({str(self.meta_path)!r}, {self.num_samples} samples of {self.datatype} at "
                f"{self.sample_rate:g} S/s, fc {self.center_frequency:g} Hz)")


def open_recording(path) -> Recording:
    """Open a SigMF recording (``.sigmf-meta``, ``.sigmf-data`` or base path).

    Raises:
        CaptureError: missing or invalid meta, missing data, unknown datatype, truncated data.
    """
    return Recording(path)
