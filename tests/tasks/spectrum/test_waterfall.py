"""classify --waterfall: a live run on the bundled busy-band replay writes a PNG whose pixels give back the
run's masks (the same counts as the legend and the summary, the same boxes as the recorded annotations),
the forecast drawn above; a zmq: stream's own centre frequency on the axis; bad flags refused in one line."""

from __future__ import annotations

import json
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdrkit.cli import main

REPO = Path(__file__).resolve().parents[3]
SEGMENT = REPO / "models" / "spectrum" / "segment" / "card.json"
FORECAST = REPO / "models" / "spectrum" / "forecast" / "card.json"
BUSY = REPO / "captures" / "spectrum_busy.sigmf-meta"        # 5 frames of 131072 samples, 2.45 GHz, 20 MS/s
FRAME = 131072
SIZE = (816, 626)          # 96 + 64 bins x 8 + 208 across; 44 + 16 forecast rows + 10 + 8 x 64 rows + 44 down

pytestmark = pytest.mark.skipif(not (SEGMENT.exists() and FORECAST.exists()), reason="bundled spectrum models missing")


def _meta(path) -> dict:
    with Image.open(path) as im:
        return json.loads(im.text["sdrkit:waterfall"])


def _decode(rgb: np.ndarray, meta: dict) -> np.ndarray:
    """The masks drawn in the waterfall panel, read back from the pixels: (sentences, rows, nfft), oldest row 0.

    A noise pixel is grey (R = G = B); a label pixel is (1 - alpha) * grey + alpha * colour: the label is
    the colour whose removal leaves a grey (channel estimates within rounding)."""
    wf, nfft, rows = meta["waterfall"], meta["nfft"], meta["rows_per_sentence"]
    pb, pr = wf["px_per_bin"], wf["px_per_row"]
    panel = rgb[wf["y0"]: wf["y0"] + wf["rows"] * pr, wf["x0"]: wf["x0"] + nfft * pb].astype(np.float64)
    cells = panel.reshape(wf["rows"], pr, nfft, pb, 3)
    assert (cells == cells[:, :1, :, :1]).all(), "every cell of the panel is one flat colour"
    px = cells[:, 0, :, 0]                                              # (rows shown, nfft, 3), newest first
    a = meta["alpha"]
    classes = meta["classes"]
    spread = [np.ptp(px, axis=-1)]                                       # noise: grey
    for c in classes[1:]:
        est = (px - a * np.array(meta["colours"][c], np.float64)) / (1 - a)
        spread.append(np.ptp(est, axis=-1) + 1000 * ((est < -2) | (est > 257)).any(axis=-1))
    spread = np.stack(spread)
    label = np.argmin(spread, axis=0).astype(np.uint8)
    assert np.take_along_axis(spread, label[None], 0).max() <= 2.5, "every pixel is grey or grey + one label colour"
    return label.reshape(wf["sentences"], rows, nfft)[:, ::-1]


def test_live_waterfall_on_the_bundled_replay_matches_the_summary_and_the_recorded_annotations(tmp_path, capsys):
    from sdrkit.capture import open_recording
    from sdrkit.dsp.masks import Grid, boxes_from_mask, recording_boxes

    png = tmp_path / "view" / "waterfall.png"          # the folder is made
    assert main(["classify", "--model", str(SEGMENT), "--radio", f"sim:{BUSY}", "--fast", "--view", "none",
                 "--batch", "1", "--waterfall", str(png), "--waterfall-every", "0.001", "--forecast", str(FORECAST),
                 "--record", str(tmp_path / "labelled")]) == 0
    out = capsys.readouterr().out
    summary = next(line for line in out.splitlines() if " frames in " in line)
    # a valid PNG of the documented size, no temporary file left beside it
    with Image.open(png) as im:
        im.verify()
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == SIZE and im.mode == "RGB"
        rgb = np.asarray(im)
    assert sorted(p.name for p in png.parent.iterdir()) == ["waterfall.png"]
    meta = _meta(png)
    from sdrkit.tasks.spectrum.waterfall import layout

    assert tuple(meta["size"]) == SIZE == tuple(layout(64, 16)["size"])
    # refreshed: one render per batch of the stream (5 batches of 1 frame, each >= 0.001 s after the last), one at
    # the end; the summary says so and the PNG is the last
    m = re.search(r"waterfall .*: (\d+) renders \((\d+) during the stream.*?(\d+\.\d) ms mean.*?(\d+) frames skipped "
                  r"while a render ran", out)
    assert m, out
    assert (int(m[1]), int(m[2])) == (6, 5) and meta["render"] == 6 and float(m[3]) > 0
    assert re.search(r" 0 frames skipped$", summary) and m[4] == "0"
    # the axes: absolute Hz from the recording's centre and rate; the 5 sentences, newest first
    assert meta["center_hz"] == 2.45e9 and meta["sample_rate"] == 20e6
    assert meta["freq_hz"] == pytest.approx([2.45e9 - 32.5 * 312500, 2.45e9 + 31.5 * 312500])
    assert meta["sentence_starts"] == [4 * FRAME, 3 * FRAME, 2 * FRAME, FRAME, 0]
    # the mask read back from the pixels: the legend's counts, and (all 5 frames shown) the run's occupancy
    # that the summary prints
    masks = _decode(rgb, meta)
    classes = meta["classes"]
    counts = {c: int(np.sum(masks == i)) for i, c in enumerate(classes) if i}
    assert counts == meta["window"]["counts"] and sum(counts.values()) > 0
    assert meta["window"]["pixels"] == masks.size == 5 * 64 * 64
    for c in classes[1:]:
        assert meta["window"]["occupancy"][c] == pytest.approx(meta["run"]["occupancy"][c], abs=1e-12)
        printed = re.search(rf"(\d+\.\d)% {c}\b", summary)
        assert printed and float(printed[1]) == pytest.approx(100 * counts[c] / masks.size, abs=0.051), (c, out)
    # ... and the same boxes as the annotations --record wrote (bounding boxes of each region, absolute Hz)
    g = Grid(64, 32, 20e6)
    rec = open_recording(tmp_path / "labelled")
    recorded = sorted((b.start, b.count, round(b.f_lo), round(b.f_hi), b.label)
                      for b in recording_boxes(rec, predictions=True))
    drawn = sorted((b.start, b.count, round(b.f_lo), round(b.f_hi), b.label)
                   for start, mk in zip(meta["sentence_starts"], masks)
                   for b in boxes_from_mask(mk, g, start, tuple(classes)))
    assert drawn and drawn == recorded
    # the forecast: drawn above the newest rows, violet-tinted (never grey), 16 rows
    fc = meta["forecast"]
    assert meta["forecast_model"] == "spectrum-forecast" and fc["rows"] == 16
    band = rgb[fc["y0"]: fc["y0"] + fc["rows"], fc["x0"]: fc["x0"] + 64 * 8].astype(int)
    assert (band[..., 2] - band[..., 1] >= 49).all() and fc["y0"] + fc["rows"] < meta["waterfall"]["y0"]


def test_waterfall_axis_follows_a_zmq_streams_centre_frequency(tmp_path, capsys):
    from sdrkit.capture import open_recording
    from sdrkit.stream import Publisher

    x = open_recording(BUSY).read(0, 5 * FRAME)
    stop = threading.Event()
    with Publisher("tcp://127.0.0.1:*", stream="busy") as pub:
        def send():
            first = 0
            while not stop.is_set():
                for k in range(5):
                    if stop.is_set():
                        return
                    pub.send(x[k * FRAME:(k + 1) * FRAME], first, 20e6, 2.412e9)
                    first += FRAME
                    stop.wait(0.02)
        t = threading.Thread(target=send, daemon=True)
        t.start()
        try:
            png = tmp_path / "z.png"
            assert main(["classify", "--model", str(SEGMENT), "--radio", f"zmq:{pub.endpoint}?stream=busy",
                         "--view", "none", "--frames", "3", "--waterfall", str(png)]) == 0
        finally:
            stop.set()
            t.join(5)
    meta = _meta(png)
    assert meta["center_hz"] == 2.412e9 and meta["freq_hz"][0] == pytest.approx(2.412e9 - 32.5 * 312500)
    assert meta["forecast"]["rows"] == 0 and 1 <= meta["waterfall"]["sentences"] <= 8
    assert re.search(r"waterfall .*: \d+ renders", capsys.readouterr().out)


def _forecast_on_another_grid(tmp_path) -> Path:
    d = tmp_path / "fc128"
    d.mkdir()
    shutil.copy(FORECAST.parent / "forecast.onnx", d / "forecast.onnx")
    card = json.loads(FORECAST.read_text())
    card["extra"]["geometry"]["nfft"] = 128
    (d / "card.json").write_text(json.dumps(card))
    return d / "card.json"


@pytest.mark.parametrize("flags, says", [
    (["--waterfall", "{tmp}/w.png", "--forecast", str(SEGMENT)],
     [f"--forecast {SEGMENT}", "output 'mask', not a spectrum forecast", "--forecast models/spectrum/forecast"]),
    (["--waterfall", "{tmp}/w.png", "--forecast", "{grid}"],
     ["{grid}", "nfft 128 (segmentation: 64)", "trained on the same grid"]),
    (["--waterfall", "{tmp}/file.txt/w.png"], ["--waterfall {tmp}/file.txt/w.png: cannot write there",
                                               "a folder you can write"]),
    (["--waterfall", "{tmp}/dir.png"], ["--waterfall {tmp}/dir.png is a folder", "waterfall.png"]),
    (["--waterfall", "{tmp}/w.jpg"], ["--waterfall {tmp}/w.jpg", "ending in .png"]),
    (["--waterfall", "{tmp}/w.png", "--waterfall-every", "0"], ["--waterfall-every 0.0", "> 0"]),
    (["--waterfall", "{tmp}/w.png", "--waterfall-every", "nan"], ["--waterfall-every nan", "> 0"]),
    (["--forecast", str(FORECAST)], [f"--forecast {FORECAST}", "no --waterfall PATH", "add --waterfall"]),
    (["--model", "amc", "--forecast", str(FORECAST)],
     ["--forecast needs a segmentation model that draws a waterfall", "task 'amc'",
      "--model models/spectrum/segment/card.json"]),
    (["--model", str(FORECAST), "--waterfall", "{tmp}/w.png"],
     ["--waterfall needs a spectrum segmentation model", "output 'forecast'"]),
])
def test_bad_waterfall_flags_are_refused_in_one_line_before_the_stream(tmp_path, capsys, flags, says):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "dir.png").mkdir()
    subs = {"{tmp}": str(tmp_path), "{grid}": str(_forecast_on_another_grid(tmp_path))}

    def fill(s):
        for k, v in subs.items():
            s = s.replace(k, v)
        return s

    flags = [fill(f) for f in flags]
    model = [] if "--model" in flags else ["--model", str(SEGMENT)]
    assert main(["classify", *model, "--radio", f"sim:{BUSY}?loop=0&realtime=0", "--view", "none", *flags]) == 1
    lines = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("replaying ")]  # the sim: note
    err = "\n".join(lines)
    assert len(lines) == 1 and err.startswith("ConfigError: ") and "Traceback" not in err, err
    for s in says:
        assert fill(s) in err, (s, err)
    assert not (tmp_path / "w.png").exists()


def test_frames_the_queue_drops_while_a_render_runs_are_counted_in_the_runs_skips(tmp_path):
    from sdrkit.dsp.framing import Framer
    from sdrkit.radio import open_radio
    from sdrkit.runtime import load_card
    from sdrkit.stream.pipeline import Pipeline
    from sdrkit.tasks.spectrum.live import SpectrumPredictor

    card = load_card(SEGMENT)
    pred = SpectrumPredictor(card)
    opts = pred.waterfall_options(tmp_path / "w.png", 1e-3)
    with open_radio(f"sim:{BUSY}?loop=1&realtime=0") as radio:      # the source outruns the model: a tiny queue
        pred.predict(np.zeros((1, 1, FRAME), np.complex64))
        pipe = Pipeline(radio, pred, Framer(FRAME, channels=(0,)), batch=1, max_queue=2)   # (session warmed up)
        sink = pred.waterfall_sink(opts, radio.rx_lo, radio.sample_rate, pipe.stats)
        pipe.sinks = [sink]
        st = pipe.run(frames=600)
    lines = pipe.summary
    assert sink.renders == len(sink.render_seconds) + 1 >= 3
    assert 0 < sink.skipped_during <= st.frames_skipped
    assert st.frames_in == st.frames_analyzed + st.frames_skipped           # nothing lost silently
    assert f"{sink.skipped_during} frames skipped while a render ran" in lines[0]
    assert _meta(tmp_path / "w.png")["stream"]["frames_skipped"] == st.frames_skipped
