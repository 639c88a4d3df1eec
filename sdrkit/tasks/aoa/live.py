"""``sdrkit watch aoa``: live angles from a multi-channel radio, through the one pipeline.

The same predictor ``sdrkit classify --model models/aoa/card.json`` runs (the terminal line
shows the direction cell of the latest estimates; ``--jsonl`` writes every frame's
``angles``). On a labelled replay (a ``sim:`` radio over a recording whose frames carry
``sdrkit:azimuth_deg``/``elevation_deg``, e.g. ``sdrkit dataset aoa``'s), :class:`AngleSink`
pairs each estimate with the direction under its frame and writes ``quiver.png`` (true ->
estimated arrows, as the seed's quiver plots), a scatter of true vs estimated azimuth and
elevation, and ``angles.json`` (MAE, frames scored).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sdrkit.sinks.base import PredictionBatch, Sink


class AngleTruth:
    """Direction under a frame of the replayed recording (``sim:`` radios only; ``ok`` False otherwise)."""

    def __init__(self, radio):
        self.ok = False
        rec = getattr(radio, "recording", None)
        if rec is None or radio.sample_rate != rec.sample_rate or radio.rx_lo != rec.center_frequency:
            return
        lab = [(s, s + c, f) for s, c, _, f in rec.labels() if "azimuth_deg" in f and "elevation_deg" in f and c > 0]
        if not lab:
            return
        self.starts = np.array([a for a, _, _ in lab])
        self.ends = np.array([b for _, b, _ in lab])
        self.az = np.array([float(f["azimuth_deg"]) for _, _, f in lab])
        self.el = np.array([float(f["elevation_deg"]) for _, _, f in lab])
        self.n = rec.num_samples
        self.loop = radio.loop
        self.ok = True

    def direction(self, start: int, length: int):
        s = start % self.n if self.loop else start
        i = np.searchsorted(self.starts, s, side="right") - 1
        if i < 0 or s + length > self.ends[i]:
            return None
        return float(self.az[i]), float(self.el[i])


class AngleSink(Sink):
    """True vs estimated directions of a labelled replay: quiver + scatter PNG, MAE JSON."""

    def __init__(self, truth: AngleTruth, out_dir, title: str = ""):
        self.truth, self.out, self.title = truth, Path(out_dir), title
        self.t, self.p = [], []

    def on_batch(self, batch: PredictionBatch) -> None:
        a = batch.prediction.outputs.get("angles")
        if a is None:
            return
        for i, start in enumerate(batch.starts):
            d = self.truth.direction(int(start), batch.frame_len)
            if d is not None:
                self.t.append(d)
                self.p.append((float(a[i][0]), float(a[i][1])))

    def close(self, stats) -> list[str]:
        if not self.t:
            return ["no frame of the stream lies inside an annotation with a known direction: nothing scored"]
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        t, p = np.array(self.t), np.array(self.p)
        mae = np.mean(np.abs(p - t), axis=0)
        self.out.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(1, 3, figsize=(13, 4.2))
        m = min(len(t), 200)
        ax[0].quiver(t[:m, 0], t[:m, 1], p[:m, 0] - t[:m, 0], p[:m, 1] - t[:m, 1], angles="xy", scale_units="xy",
                     scale=1, width=0.004, color="tab:red")
        ax[0].scatter(t[:m, 0], t[:m, 1], s=6, c="k")
        ax[0].set(xlim=(-70, 70), ylim=(-70, 70), xlabel="azimuth, deg", ylabel="elevation, deg",
                  title="true (dot) -> estimated (arrow head)")
        for k, name in ((1, "azimuth"), (2, "elevation")):
            ax[k].scatter(t[:, k - 1], p[:, k - 1], s=5)
            ax[k].plot([-65, 65], [-65, 65], "k--", lw=0.8)
            ax[k].set(xlabel=f"true {name}, deg", ylabel=f"estimated {name}, deg",
                      title=f"{name}: MAE {mae[k - 1]:.2f} deg ({len(t)} frames)")
        for a in ax:
            a.grid(alpha=0.3)
        fig.suptitle(self.title, fontsize=9)
        fig.tight_layout()
        png = self.out / "quiver.png"
        fig.savefig(png, dpi=100)
        plt.close(fig)
        (self.out / "angles.json").write_text(json.dumps({"frames_scored": len(t), "mae_az_deg": float(mae[0]),
                                                          "mae_el_deg": float(mae[1])}, indent=1) + "\n")
        return [f"scored {len(t)} frames against the recording's directions: MAE azimuth {mae[0]:.2f} deg, "
                f"elevation {mae[1]:.2f} deg -> {png}"]


def watch(cfg) -> int:
    """Run an aoa card live on ``cfg.radio`` with the terminal view and, on a labelled replay, the angle sink."""
    from sdrkit.dsp.framing import Framer
    from sdrkit.errors import ConfigError
    from sdrkit.radio import open_radio
    from sdrkit.resources import resolve
    from sdrkit.runtime import check_stream, load_card
    from sdrkit.sinks import TerminalView
    from sdrkit.stream.pipeline import Pipeline
    from sdrkit.tasks.aoa.predict import AnglePredictor

    if cfg.batch < 1 or (cfg.frames is not None and cfg.frames < 1) or (cfg.seconds is not None and cfg.seconds <= 0):
        raise ConfigError(f"--batch {cfg.batch}, --frames {cfg.frames} and --seconds {cfg.seconds} must be positive")
    card = load_card(resolve("models", cfg.model))
    predictor = AnglePredictor(card, cfg.calibration)
    print(predictor.note)
    with open_radio(cfg.radio) as radio:
        chans = check_stream(card, radio.sample_rate, card.input.frame_len,
                             channels=len(getattr(radio, "rx_enabled_channels", None) or [0]))
        pipe = Pipeline(radio, predictor, Framer(card.input.frame_len, channels=chans), batch=cfg.batch)
        truth = AngleTruth(radio)
        pipe.sinks = [TerminalView(pipe.stats)] + ([AngleSink(truth, cfg.out, f"{card.name} on {cfg.radio}")]
                                                   if truth.ok else [])
        st = pipe.run(seconds=cfg.seconds, frames=cfg.frames)
    print(st.summary())
    for line in pipe.summary:
        print(line)
    return 0
