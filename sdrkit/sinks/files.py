"""File sinks: JSON lines per frame, and the stream recorded to SigMF with predictions as annotations."""

from __future__ import annotations

import bisect
import json
import threading
from pathlib import Path

from sdrkit.sinks.base import PredictionBatch, Sink, frame_records


class JsonlSink(Sink):
    """One JSON object per frame: ``start``, ``latency_ms``, ``pred``/``p`` (classes) and small outputs."""

    def __init__(self, path, truth=None):
        from sdrkit.errors import ConfigError

        self.path = Path(path)
        self.truth = truth if truth is not None and truth.ok else None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "w")
        except OSError as exc:
            raise ConfigError(f"cannot write predictions to {self.path}: {exc.strerror}; pass a writable "
                              f"--jsonl path") from exc
        self.lines = 0

    def on_batch(self, batch: PredictionBatch) -> None:
        for rec in frame_records(batch):
            if self.truth is not None:
                rec["truth"] = self.truth.label(rec["start"], batch.frame_len)
            self._fh.write(json.dumps(rec) + "\n")
            self.lines += 1

    def close(self, stats) -> list[str]:
        self._fh.close()
        return [f"wrote {self.lines} prediction lines to {self.path}"]


class SigMFSink(Sink):
    """Record every sample of the stream (all channels); each prediction becomes an annotation.

    Lost samples are not in the file: each gap is annotated (``gap``, with ``lost_samples``),
    each radio timeout too (``timeout``, zero length, where it happened), and prediction
    annotations are placed at the frame's index in the file, not in the stream. Predictions
    are annotated as they come (the writer rewrites its metadata on every flush), so a long
    run holds none of them in memory and a crash keeps those made so far.

    Args:
        path: recording path (``.sigmf-meta``/``.sigmf-data`` are added).
        radio: the open radio (rate, frequency, hardware description, config).
        model: the card's name, written as the source of each prediction.
        radio_uri: written into the recording's global metadata.
    """

    def __init__(self, path, radio, model: str, radio_uri: str = ""):
        from sdrkit.capture import RecordingWriter

        self.path, self.model = path, model
        self.center_frequency = float(getattr(radio, "rx_lo", 0.0) or 0.0)
        channels = len(getattr(radio, "rx_enabled_channels", None) or [0])
        kwargs = {"num_channels": channels} if channels > 1 else {}
        self.writer = RecordingWriter(path, sample_rate=radio.sample_rate, center_frequency=radio.rx_lo,
                                      hw=getattr(radio, "hw_description", repr(radio)),
                                      extra_global={"radio_uri": radio_uri, "model": model,
                                                    "radio_config": radio.config.to_dict()}, **kwargs)
        self.block_map: list[tuple[int, int]] = []   # (stream index, file index) per block
        self.written = 0
        self.annotated = 0
        self._lock = threading.Lock()               # blocks come from the source thread, predictions not

    def on_block(self, block) -> None:
        n = block.samples.shape[-1]
        with self._lock:
            self.block_map.append((block.start, self.written))
            if block.lost:
                self.writer.add_gap(self.written, block.lost)
            self.writer.write(block.samples)
            self.written += n

    def on_timeout(self, error) -> None:
        with self._lock:
            self.writer.annotate(self.written, 0, "timeout", comment=f"radio timeout: {error}")

    def file_index(self, stream_index: int) -> int:
        """Where stream sample ``stream_index`` sits in the file (lost samples are not recorded)."""
        i = bisect.bisect_right(self.block_map, (stream_index, float("inf"))) - 1
        if i < 0:
            return stream_index
        s0, w0 = self.block_map[i]
        return w0 + (stream_index - s0)

    def on_batch(self, batch: PredictionBatch) -> None:
        regions = getattr(batch.prediction, "regions", None)     # time-frequency detections (spectrum task)
        with self._lock:
            for i, rec in enumerate(frame_records(batch)):
                start = rec.pop("start")
                if regions is not None:
                    self._annotate_regions(self.file_index(start), regions[i])
                    continue
                label = rec.pop("pred", "prediction")
                rec.pop("latency_ms", None)
                extra = {("probability" if k == "p" else k): v for k, v in rec.items()}
                self.writer.annotate(self.file_index(start), batch.frame_len, label,
                                     source=f"prediction by {self.model}", **extra)
                self.annotated += 1

    def _annotate_regions(self, at: int, boxes) -> None:
        """One annotation per detection: ``start``/``count`` samples within the frame, ``f_lo``/``f_hi`` Hz
        from the centre (written as absolute ``core:freq_lower_edge``/``core:freq_upper_edge``)."""
        for b in boxes:
            self.writer.annotate(at + int(b.start), int(b.count), b.label, source=f"prediction by {self.model}",
                                 **{"core:freq_lower_edge": self.center_frequency + float(b.f_lo),
                                    "core:freq_upper_edge": self.center_frequency + float(b.f_hi)})
            self.annotated += 1

    def close(self, stats) -> list[str]:
        with self._lock:
            self.writer.close()
        return [f"recorded the stream with {self.annotated} prediction annotations to {self.path}"]
