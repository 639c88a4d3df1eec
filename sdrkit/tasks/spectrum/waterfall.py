"""A live waterfall PNG of a spectrum segmentation, with the mask drawn over it and the forecast above it.

``sdrkit classify --model models/spectrum/segment/card.json --radio URI --waterfall PATH`` adds a
:class:`WaterfallSink`: it keeps the last :data:`SENTENCES` analyzed sentences (their power in dB,
``SpectrumPrediction.power_db``, and their masks) and, in the inference thread, at most every
``--waterfall-every`` seconds (and once more at the end of the run) draws them into ``PATH``:

- the waterfall: power in dB as grey (the colour bar gives the dB range: the 5th and 99.8th
  percentiles of the rows shown), newest row at the top, :data:`PX_PER_ROW` pixel(s) per row
  (``nfft * average`` samples), :data:`PX_PER_BIN` pixels per bin; frequency across in absolute MHz
  (the radio's ``rx_lo`` and ``sample_rate``), stream time of each sentence down the left (gaps between
  sentences that were not consecutive in the stream are marked there, never over the data);
- the mask over it: a pixel of label ``c`` is ``round((1 - ALPHA) * grey + ALPHA * COLOURS[c])``, a
  noise pixel is plain grey (R = G = B), so the mask can be read back from the pixels;
- a legend: each label's occupancy of the rows shown (from the same pixel counts that are drawn) and
  of the whole run (the sums the run summary prints);
- with ``--forecast CARD``: the forecast card runs on the newest sentence (the same normalized input the
  segmentation saw) and its predicted next rows are drawn above the newest rows, violet-tinted inside
  a dashed frame and labelled FORECAST.

The PNG is written to a temporary file in the same folder and moved over ``PATH`` with
:func:`os.replace`, so a viewer never reads half a PNG. Its ``sdrkit:waterfall`` text chunk holds
the render as JSON (render number, geometry of the panels, sentence starts, dB range, colours, pixel
counts per label), enough to map every pixel back to stream samples and Hz.

Rendering runs in the inference thread, so while it runs frames wait in the pipeline's queue; any the
queue then drops are counted in the run's ``frames skipped`` like every other skip, and the summary
line says how many were dropped while a render ran, and what a render cost.
"""

from __future__ import annotations

import collections
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdrkit.errors import ConfigError
from sdrkit.sinks.base import Sink

SENTENCES = 8                     # sentences shown (8 x 64 rows = 52 ms at 20 MS/s)
PX_PER_BIN = 8
PX_PER_ROW = 1
LEFT, RIGHT, TOP, BOTTOM, GAP = 96, 208, 44, 44, 10
ALPHA = 0.5                       # mask colour weight over the grey
COLOURS = {"lte": (255, 64, 64), "nr": (64, 128, 255), "wifi": (255, 200, 0), "bt": (0, 220, 120),
           "narrowband": (230, 0, 230), "signal": (0, 230, 230)}
EMPTY = (20, 20, 44)              # panel area not yet filled (dark blue: never a grey or a label colour)
BACKGROUND = (250, 250, 250)
FORECAST_TINT = (150, 90, 255)
META_KEY = "sdrkit:waterfall"
DEFAULT_EVERY = 1.0


@dataclass(frozen=True)
class WaterfallOptions:
    """What ``--waterfall`` / ``--waterfall-every`` / ``--forecast`` asked for, checked.

    Attributes:
        path: the PNG, written atomically. every: seconds between renders (at least).
        forecast: the loaded forecast card, or None.
    """

    path: Path
    every: float = DEFAULT_EVERY
    forecast: object | None = None


def waterfall_options(card, path, every: float | None = DEFAULT_EVERY, forecast=None) -> WaterfallOptions:
    """Check the waterfall flags against the card the run uses (before any sample flows).

    Raises:
        ConfigError: the model is not a spectrum segmentation card; ``--forecast`` without ``--waterfall``,
            or a forecast card of another kind or grid; ``path`` not a writable ``.png``; ``every`` not > 0.
    """
    from sdrkit.runtime import load_card

    flag = "--waterfall" if path else "--forecast"
    if card.task != "spectrum" or card.output.kind != "mask":
        raise ConfigError(f"{flag} needs a spectrum segmentation model (output kind 'mask'), but --model {card.path} "
                          f"is a model of task {card.task!r} with output {card.output.kind!r}; pass "
                          f"--model models/spectrum/segment/card.json (or drop {flag})")
    if not path:
        raise ConfigError(f"--forecast {forecast} is drawn in the waterfall, and no --waterfall PATH was given; "
                          f"add --waterfall out/waterfall.png (or drop --forecast)")
    every = DEFAULT_EVERY if every is None else every
    if not (isinstance(every, (int, float)) and math.isfinite(every) and every > 0):
        raise ConfigError(f"--waterfall-every {every} must be a finite number of seconds > 0 (default "
                          f"{DEFAULT_EVERY:g})")
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise ConfigError(f"--waterfall {path}: the waterfall is a PNG; give a path ending in .png "
                          f"(e.g. out/waterfall.png)")
    if p.is_dir():
        raise ConfigError(f"--waterfall {path} is a folder; give a file path ending in .png inside it "
                          f"(e.g. {p / 'waterfall.png'})")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        probe = _tmp_path(p)
        with open(probe, "wb"):
            pass
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"--waterfall {path}: cannot write there ({exc.strerror or exc}); pass a path in a "
                          f"folder you can write (e.g. out/waterfall.png)") from exc
    fc = None
    if forecast:
        fc = load_card(forecast)
        if fc.task != "spectrum" or fc.output.kind != "forecast":
            raise ConfigError(f"--forecast {forecast}: card {fc.path} is a model of task {fc.task!r} with output "
                              f"{fc.output.kind!r}, not a spectrum forecast; pass "
                              f"--forecast models/spectrum/forecast/card.json")
        mine, theirs = _grid_of(card), _grid_of(fc)
        if mine != theirs:
            diff = ", ".join(f"{k} {theirs[k]} (segmentation: {mine[k]})" for k in mine if mine[k] != theirs[k])
            raise ConfigError(f"--forecast {forecast}: its sentences differ from the segmentation card "
                              f"{card.path}'s: {diff}; it must run on the same sentences, so pass a forecast "
                              f"card trained on the same grid (e.g. models/spectrum/forecast/card.json)")
    return WaterfallOptions(p, float(every), fc)


def _grid_of(card) -> dict:
    geo = card.extra.get("geometry", {})
    return {"sample_rate": float(card.input.sample_rate), "frame_len": int(card.input.frame_len),
            "nfft": int(geo.get("nfft", 64)), "average": int(geo.get("average", 32)),
            "rows": int(geo.get("rows", 64))}


def _tmp_path(p: Path) -> Path:
    return p.with_name(f".{p.name}.{os.getpid()}.tmp")


def layout(nfft: int, forecast_rows: int, sentences: int = SENTENCES, rows: int = 64) -> dict:
    """Pixel geometry of a render: canvas ``size`` (width, height) and the panels' top-left corners."""
    fh = forecast_rows * PX_PER_ROW
    width = LEFT + nfft * PX_PER_BIN + RIGHT
    fy = TOP
    wy = TOP + fh + GAP
    height = wy + sentences * rows * PX_PER_ROW + BOTTOM
    return {"size": [width, height], "waterfall": {"x0": LEFT, "y0": wy, "px_per_bin": PX_PER_BIN,
                                                   "px_per_row": PX_PER_ROW},
            "forecast": {"x0": LEFT, "y0": fy, "rows": forecast_rows}}


class WaterfallSink(Sink):
    """Draw the last sentences, their masks and the forecast into a PNG, at most every ``options.every`` s.

    Args:
        options: from :func:`waterfall_options`.
        card: the segmentation card (grid, ``mask_classes``).
        center_hz, sample_rate: the stream's centre frequency (Hz) and rate (samples/s): the frequency axis.
        stats: the run's :class:`~sdrkit.stream.pipeline.PipelineStats` (frames skipped during renders,
            header counts); None: not reported.
        title: shown in the header (e.g. the radio URI).
        threads: onnxruntime threads of the forecast session.
    """

    def __init__(self, options: WaterfallOptions, card, center_hz: float, sample_rate: float, stats=None,
                 title: str = "", threads: int = 1):
        from sdrkit.dsp.masks import Grid

        self.options, self.card, self.stats, self.title = options, card, stats, title
        geo = _grid_of(card)
        self.rows, self.nfft, self.frame_len = geo["rows"], geo["nfft"], geo["frame_len"]
        self.grid = Grid(geo["nfft"], geo["average"], float(sample_rate))
        self.center_hz, self.sample_rate = float(center_hz or 0.0), float(sample_rate)
        self.classes = tuple(card.extra.get("mask_classes", ()))
        self.ring: collections.deque = collections.deque(maxlen=SENTENCES)     # (start, power_db, mask)
        self.run_sums = {c: 0.0 for c in self.classes[1:]}
        self.run_frames = 0
        self.renders = 0
        self.render_seconds: list[float] = []        # renders in the stream (inference thread)
        self.final_seconds = 0.0
        self.forecast_seconds = 0.0
        self.skipped_during = 0
        self._last = -math.inf
        self.session = None
        self.forecast_rows = 0
        if options.forecast is not None:
            from sdrkit.runtime.session import onnx_session

            self.session = onnx_session(options.forecast.file("model"), threads)
            self.forecast_input = self.session.get_inputs()[0].name
            self.forecast_rows = int((options.forecast.output.shape or (16,))[0])
        self.geometry = layout(self.nfft, self.forecast_rows if self.session else 16, SENTENCES, self.rows)
        self.last_meta: dict = {}

    # ---- sink hooks -----------------------------------------------------------------------
    def on_batch(self, batch) -> None:
        p = batch.prediction
        mask, power = p.outputs.get("mask"), getattr(p, "power_db", None)
        if mask is None or power is None:
            raise ConfigError(f"the waterfall needs a spectrum segmentation prediction (a mask and power_db); "
                              f"model {self.card.name!r} gave outputs {sorted(p.outputs)}")
        for key, v in p.stats.items():
            if key in self.run_sums:
                self.run_sums[key] += v
        self.run_frames += p.n
        k = min(p.n, SENTENCES)
        for i in range(p.n - k, p.n):
            self.ring.append((int(batch.starts[i]), np.array(power[i], np.float32), np.array(mask[i], np.uint8)))
        now = time.perf_counter()
        if now - self._last >= self.options.every:
            before = self.stats.frames_skipped if self.stats is not None else 0
            t0 = time.perf_counter()
            self.render()
            end = time.perf_counter()
            self.render_seconds.append(end - t0)
            if self.stats is not None:
                self.skipped_during += self.stats.frames_skipped - before
            self._last = end

    def close(self, stats) -> list[str]:
        if self.stats is None:
            self.stats = stats
        if not self.ring:
            return [f"waterfall {self.options.path}: no sentence was analyzed, nothing drawn"]
        t0 = time.perf_counter()
        self.render()
        self.final_seconds = time.perf_counter() - t0
        live = self.render_seconds
        cost = (f"{np.mean(live) * 1e3:.1f} ms mean, {np.max(live) * 1e3:.1f} ms max per render in the stream"
                if live else "none in the stream")
        fc = (f", forecast {self.forecast_seconds / self.renders * 1e3:.1f} ms of each" if self.session else "")
        return [f"waterfall {self.options.path}: {self.renders} renders ({len(live)} during the stream, every >= "
                f"{self.options.every:g} s, and one at the end); {cost}{fc}, {sum(live) * 1e3:.0f} ms of the "
                f"inference thread in all; {self.skipped_during} frames skipped while a render ran (included in "
                f"the frames skipped above)"]

    # ---- drawing --------------------------------------------------------------------------
    def render(self) -> dict:
        """Draw the ring (and the forecast) and write the PNG atomically; returns the render's metadata."""
        from PIL import Image, PngImagePlugin

        self.renders += 1
        shown = list(self.ring)[::-1]                          # newest first
        power = np.stack([s[1] for s in shown])                # (k, rows, nfft)
        masks = np.stack([s[2] for s in shown])
        lo, hi = (float(v) for v in np.percentile(power, [5, 99.8]))
        hi = max(hi, lo + 1.0)
        forecast_db = None
        if self.session is not None:
            from sdrkit.tasks.spectrum.data import FLOOR_PERCENTILE, normalize

            t0 = time.perf_counter()
            newest = power[0][None]
            y = self.session.run(None, {self.forecast_input: normalize(newest)[:, None]})[0][0, 0]
            floor = float(np.percentile(newest, FLOOR_PERCENTILE))
            forecast_db = y.astype(np.float32) * np.float32(10.0) + np.float32(floor)   # back from (P - q05) / 10
            self.forecast_seconds += time.perf_counter() - t0
        g = self.geometry
        w, h = g["size"]
        canvas = np.empty((h, w, 3), np.uint8)
        canvas[:] = BACKGROUND
        wf = g["waterfall"]
        x0, y0, nb = wf["x0"], wf["y0"], self.nfft * PX_PER_BIN
        canvas[y0:y0 + SENTENCES * self.rows * PX_PER_ROW, x0:x0 + nb] = EMPTY
        rows_img = self._observed(power, masks, lo, hi)         # (k * rows, nfft, 3), newest row first
        canvas[y0:y0 + len(rows_img) * PX_PER_ROW, x0:x0 + nb] = _upscale(rows_img)
        counts = {c: int(np.sum(masks == i)) for i, c in enumerate(self.classes) if i}
        pixels = int(masks.size)
        if forecast_db is not None:
            fy = g["forecast"]["y0"]
            f_img = _grey(forecast_db[::-1], lo, hi)[..., None].astype(np.float32)
            tint = np.array(FORECAST_TINT, np.float32)
            f_rgb = np.rint(0.7 * f_img + 0.3 * tint).astype(np.uint8)
            canvas[fy:fy + len(f_rgb) * PX_PER_ROW, x0:x0 + nb] = _upscale(f_rgb)
        meta = {
            "render": self.renders, "model": self.card.name,
            "forecast_model": self.options.forecast.name if self.options.forecast is not None else None,
            "center_hz": self.center_hz, "sample_rate": self.sample_rate, "nfft": self.nfft,
            "bin_hz": self.grid.bin_hz, "row_samples": self.grid.row_samples, "rows_per_sentence": self.rows,
            "frame_len": self.frame_len, "size": g["size"],
            "waterfall": {**wf, "sentences": len(shown), "rows": len(rows_img)},
            "forecast": {**g["forecast"], "rows": 0 if forecast_db is None else len(forecast_db)},
            "sentence_starts": [s[0] for s in shown],
            "freq_hz": [self.center_hz + float(e) for e in self.grid.bin_edges()[[0, -1]]],
            "db_range": [lo, hi], "alpha": ALPHA, "classes": list(self.classes),
            "colours": {c: list(COLOURS.get(c, COLOURS["signal"])) for c in self.classes[1:]},
            "window": {"pixels": pixels, "counts": counts,
                       "occupancy": {c: n / pixels for c, n in counts.items()}},
            "run": {"frames": self.run_frames,
                    "occupancy": {c: v / max(self.run_frames, 1) for c, v in self.run_sums.items()}},
        }
        if self.stats is not None:
            meta["stream"] = {"frames_in": self.stats.frames_in, "frames_analyzed": self.stats.frames_analyzed,
                              "frames_skipped": self.stats.frames_skipped}
        img = Image.fromarray(canvas, "RGB")
        self._annotate(img, meta, shown, forecast_db)
        info = PngImagePlugin.PngInfo()
        info.add_text(META_KEY, json.dumps(meta))
        path = self.options.path
        tmp = _tmp_path(path)
        try:
            img.save(tmp, format="PNG", pnginfo=info, compress_level=1)
            os.replace(tmp, path)
        except OSError as exc:
            raise ConfigError(f"--waterfall {path}: writing render {self.renders} failed ({exc.strerror or exc}); "
                              f"keep the folder writable (and the disk not full) while the run goes on") from exc
        self.last_meta = meta
        return meta

    def _observed(self, power, masks, lo, hi) -> np.ndarray:
        """Grey dB rows with the mask mixed in, newest row first: ``(k * rows, nfft, 3)`` uint8."""
        grey = _grey(power[:, ::-1].reshape(-1, self.nfft), lo, hi).astype(np.float32)
        m = masks[:, ::-1].reshape(-1, self.nfft)
        rgb = np.repeat(grey[..., None], 3, axis=2)
        for i, c in enumerate(self.classes):
            if i == 0:
                continue
            on = m == i
            if on.any():
                rgb[on] = (1 - ALPHA) * grey[on][:, None] + ALPHA * np.array(COLOURS.get(c, COLOURS["signal"]),
                                                                             np.float32)
        return np.rint(rgb).astype(np.uint8)

    def _annotate(self, img, meta, shown, forecast_db) -> None:
        from PIL import ImageDraw

        d = ImageDraw.Draw(img)
        font, small = _font(12), _font(10)
        ink, dim = (0, 0, 0), (90, 90, 90)
        wf = meta["waterfall"]
        x0, y0, nb = wf["x0"], wf["y0"], self.nfft * PX_PER_BIN
        y_end = y0 + SENTENCES * self.rows * PX_PER_ROW
        st = meta.get("stream")
        head = (f"{self.card.name}  {self.title}  fc {self.center_hz / 1e6:.3f} MHz, {self.sample_rate / 1e6:g} MS/s"
                f"  render {self.renders}")
        d.text((8, 6), head, fill=ink, font=font)
        sub = "newest rows at the top; mask over grey dB"
        if st:
            sub += (f"; frames in {st['frames_in']}, analyzed {st['frames_analyzed']}, "
                    f"skipped {st['frames_skipped']}")
        d.text((8, 24), sub, fill=dim, font=small)
        # time axis: each sentence's stream time (start), gaps between sentences not consecutive in the stream
        sent_h = self.rows * PX_PER_ROW
        for j, (start, _, _) in enumerate(shown):
            top = y0 + j * sent_h
            bottom = top + sent_h - 1                          # the sentence's first row
            d.line([(x0 - 8, bottom), (x0 - 1, bottom)], fill=ink)
            d.text((4, bottom - 13), f"{start / self.sample_rate * 1e3:.2f} ms", fill=ink, font=small)
            if j + 1 < len(shown) and shown[j + 1][0] + self.frame_len != start:
                d.line([(x0 - 16, bottom + 1), (x0 - 1, bottom + 1)], fill=(220, 0, 0), width=2)
                d.text((4, bottom + 2), "gap", fill=(220, 0, 0), font=small)
        d.text((4, y_end + 4), "stream time at", fill=dim, font=small)
        d.text((4, y_end + 16), "each tick", fill=dim, font=small)
        # frequency axis, absolute MHz
        f_lo, f_hi = meta["freq_hz"]
        step = _nice_step((f_hi - f_lo) / 5)
        f = math.ceil(f_lo / step) * step
        while f <= f_hi:
            x = x0 + (f - f_lo) / (f_hi - f_lo) * nb
            d.line([(x, y_end), (x, y_end + 5)], fill=ink)
            label = f"{f / 1e6:.6g}"
            d.text((x - 3 * len(label), y_end + 7), label, fill=ink, font=small)
            f += step
        d.text((x0 + nb // 2 - 50, y_end + 24), "frequency (MHz)", fill=ink, font=font)
        # forecast band
        fy = meta["forecast"]["y0"]
        fh = (self.forecast_rows if self.session else 16) * PX_PER_ROW
        if forecast_db is not None:
            _dashed_rect(d, x0 - 2, fy - 2, x0 + nb + 1, fy + fh + 1, FORECAST_TINT)
            d.text((4, fy + fh // 2 - 7), "FORECAST", fill=FORECAST_TINT, font=font)
            ahead_ms = self.forecast_rows * self.grid.row_samples / self.sample_rate * 1e3
            d.text((x0 + nb + 6, fy + fh // 2 - 6), f"next {ahead_ms:.2f} ms", fill=FORECAST_TINT, font=small)
            d.line([(x0, fy + fh + GAP // 2), (x0 + nb, fy + fh + GAP // 2)], fill=dim)
        else:
            d.text((x0 + 4, fy + 1), "no forecast (add --forecast models/spectrum/forecast/card.json)", fill=dim,
                   font=small)
        # legend
        lx, ly = x0 + nb + 14, y0
        d.text((lx, ly), "label   shown    run", fill=ink, font=font)
        ly += 18
        for c in self.classes[1:]:
            col = tuple(COLOURS.get(c, COLOURS["signal"]))
            d.rectangle([lx, ly + 2, lx + 10, ly + 12], fill=col)
            d.text((lx + 14, ly), f"{c[:10]:<10}", fill=ink, font=small)
            d.text((lx + 84, ly), f"{meta['window']['occupancy'][c]:6.1%}", fill=ink, font=small)
            d.text((lx + 140, ly), f"{meta['run']['occupancy'][c]:6.1%}", fill=ink, font=small)
            ly += 16
        d.text((lx, ly + 2), f"shown: {meta['waterfall']['sentences']} sentences", fill=dim, font=small)
        d.text((lx, ly + 14), f"run: {meta['run']['frames']} frames", fill=dim, font=small)
        # dB bar
        by, bh = ly + 40, 160
        lo, hi = meta["db_range"]
        ramp = np.linspace(255, 0, bh).astype(np.uint8)
        for k, v in enumerate(ramp):
            d.line([(lx, by + k), (lx + 14, by + k)], fill=(int(v),) * 3)
        d.rectangle([lx, by, lx + 14, by + bh], outline=ink)
        d.text((lx + 20, by - 4), f"{hi:.1f} dB", fill=ink, font=small)
        d.text((lx + 20, by + bh - 8), f"{lo:.1f} dB", fill=ink, font=small)
        d.text((lx, by + bh + 8), "power (dB full scale)", fill=dim, font=small)


def _grey(p: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.rint(np.clip((p - lo) / (hi - lo), 0.0, 1.0) * 255.0).astype(np.uint8)


def _upscale(rgb: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(rgb, PX_PER_ROW, axis=0), PX_PER_BIN, axis=1)


def _nice_step(x: float) -> float:
    e = 10 ** math.floor(math.log10(max(x, 1e-9)))
    for m in (1, 2, 2.5, 5, 10):
        if m * e >= x:
            return m * e
    return 10 * e


def _dashed_rect(d, x0, y0, x1, y1, fill, dash: int = 6) -> None:
    for x in range(x0, x1, 2 * dash):
        d.line([(x, y0), (min(x + dash, x1), y0)], fill=fill, width=2)
        d.line([(x, y1), (min(x + dash, x1), y1)], fill=fill, width=2)
    for y in range(y0, y1, 2 * dash):
        d.line([(x0, y), (x0, min(y + dash, y1))], fill=fill, width=2)
        d.line([(x1, y), (x1, min(y + dash, y1))], fill=fill, width=2)


_FONTS: dict = {}


def _font(size: int):
    from PIL import ImageFont

    if size not in _FONTS:
        _FONTS[size] = ImageFont.load_default(size)
    return _FONTS[size]
