"""``sdrkit bench spectrum_live``: sample -> segmentation latency and the share of the stream analyzed.

A realtime ``sim:`` replay of a busy-band scene at 20 MS/s (and at 5 MS/s, a Pluto's sustained USB
rate) runs through the live pipeline with the bundled segmentation head; the frame queue is kept
short (a few frames) so that latency stays bounded and the share analyzed is what the model keeps
up with. Beside it, the ceiling: the sentence spectrogram alone (``frames_to_sentences``) in MS/s.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from sdrkit.bench import BenchContext, Result, benchmark, best_rate


def _scene(folder: Path, seconds: float = 0.2) -> Path:
    from sdrkit.capture import write_recording
    from sdrkit.dsp.scene import SceneConfig, make_scene, to_annotations
    from sdrkit.tasks.spectrum.data import CENTER_FREQUENCY, SAMPLE_RATE

    x, em, _ = make_scene(SceneConfig(sample_rate=SAMPLE_RATE, duration=seconds), np.random.default_rng(7))
    return write_recording(folder / "scene", x, sample_rate=SAMPLE_RATE, center_frequency=CENTER_FREQUENCY,
                           annotations=to_annotations(em, CENTER_FREQUENCY), overwrite=True)


def live_run(card_path, recording, rate: float, seconds: float, threads: int = 2, max_queue: int = 4):
    """Run the card's predictor on a realtime ``sim:`` replay at ``rate``; returns the PipelineStats."""
    from sdrkit.dsp.framing import Framer
    from sdrkit.radio import open_radio
    from sdrkit.runtime import load_card
    from sdrkit.stream.pipeline import Pipeline
    from sdrkit.tasks.spectrum.live import SpectrumPredictor

    card = load_card(card_path)
    pred = SpectrumPredictor(card, threads=threads)
    uri = f"sim:{recording}?realtime=1&loop=1"
    with open_radio(uri) as radio:
        if rate != radio.sample_rate:
            radio.configure(sample_rate=rate)
        radio.configure(rx_buffer_size=1 << 15)
        pipe = Pipeline(radio, pred, Framer(card.input.frame_len, channels=(0,)), batch=4, max_queue=max_queue)
        return pipe.run(seconds=seconds)


def spectrogram_ceiling(seconds: float = 1.0) -> float:
    """MS/s of the sentence spectrogram alone (1 thread)."""
    from sdrkit.dsp.masks import Grid
    from sdrkit.tasks.spectrum.data import AVERAGE, FRAME_LEN, NFFT, ROWS, SAMPLE_RATE
    from sdrkit.tasks.spectrum.live import frames_to_sentences

    rng = np.random.default_rng(0)
    fr = (rng.standard_normal((4, 1, FRAME_LEN)) + 1j * rng.standard_normal((4, 1, FRAME_LEN))).astype(np.complex64)
    g = Grid(NFFT, AVERAGE, SAMPLE_RATE)
    return best_rate(lambda: (frames_to_sentences(fr, g, ROWS), fr.size)[1], seconds) / 1e6


@benchmark("spectrum_live")
def spectrum_live(ctx: BenchContext) -> list[Result]:
    """p99 latency sample -> segmentation at 20 MS/s, share analyzed at 20 and 5 MS/s, beside the spectrogram."""
    from sdrkit.resources import resolve

    card = resolve("models", "models/spectrum/segment/card.json")
    secs = 3.0 if ctx.quick else max(8.0, 4 * ctx.seconds)
    ceil = spectrogram_ceiling(ctx.seconds)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        rec = _scene(Path(tmp))
        t0 = time.perf_counter()
        st20 = live_run(card, rec, 20e6, secs)
        st5 = live_run(card, rec, 5e6, secs)
        _ = time.perf_counter() - t0
    out.append(Result("spectrum_live p99 latency, 20 MS/s", st20.latency_ms(99), "ms", None, "",
                      target=100.0, higher_is_better=False,
                      notes=f"sample -> mask, realtime sim:, queue 4 frames, analyzed {st20.analyzed_fraction:.1%}"))
    out.append(Result("spectrum_live analyzed, 20 MS/s", 100 * st20.analyzed_fraction, "%", None, "",
                      notes=f"{st20.frames_analyzed}/{st20.frames_in} frames of 131072 samples in {secs:.0f} s; "
                            f"model {st20.model_seconds / max(st20.frames_analyzed, 1) * 1e3:.1f} ms/frame"))
    out.append(Result("spectrum_live analyzed, 5 MS/s", 100 * st5.analyzed_fraction, "%", None, "",
                      target=100.0, notes=f"p99 latency {st5.latency_ms(99):.1f} ms (the model sees a 5 MS/s band)"))
    out.append(Result("sentence spectrogram alone", ceil, "MS/s", None, "", target=20.0,
                      notes="the ceiling: frames -> normalized sentences, 1 thread"))
    return out
