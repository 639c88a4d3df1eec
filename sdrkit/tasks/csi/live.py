"""The live CSI predictor: a pilot-sweep frame -> estimated CSI -> UE int8 encoder -> BS decoder.

Each frame is what the UE's receiver hears while the BS sends the known OFDM pilot from each of
its 32 antennas in turn (the card's ``extra.pilots``; ``sdrkit dataset csi`` records such a capture,
``data/csi/<scenario>/pilots.sigmf-meta``, and a real BS/UE pair would record the same). The
predictor estimates ``H`` by least squares per subcarrier, takes it to the angular-delay domain
(first 32 taps, CsiNet normalization), compresses it with the card's int8 UE encoder at
``extra.live_cr`` and reconstructs it with the fp32 BS decoder.

Outputs per frame: ``reconstruction`` ``(2, 32, 32)`` (the card's output kind), ``estimate`` (the
normalized CSI that was compressed) and ``codeword`` ``(M,)``. Stats: ``good_reconstruction``
counts frames whose reconstruction NMSE against the estimate is below -10 dB.
"""

from __future__ import annotations

import time

import numpy as np

from sdrkit.dsp import csi as dcsi
from sdrkit.errors import ModelError
from sdrkit.runtime.predict import Prediction


class CsiPredictor:
    """Runs a csi card live (see the module docstring)."""

    classes = None

    def __init__(self, card, threads: int = 1):
        from sdrkit.runtime.session import onnx_session

        self.card = card
        ex = card.extra or {}
        self.cr = int(ex.get("live_cr", 4))
        pil = ex.get("pilots") or {}
        try:
            self.n_ant, self.n_sc, self.cp = int(pil["antennas"]), int(pil["subcarriers"]), int(pil["cp"])
            self.pilot_seed = int(pil.get("pilot_seed", 0))
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"csi card {card.path}: extra.pilots must give antennas, subcarriers and cp; "
                             f"re-export the model ('sdrkit train csi')") from None
        if self.n_ant * (self.n_sc + self.cp) != card.input.frame_len:
            raise ModelError(f"csi card {card.path}: input.frame_len {card.input.frame_len} is not antennas x "
                             f"(subcarriers + cp) = {self.n_ant * (self.n_sc + self.cp)}; fix the card")
        self.enc = onnx_session(card.file(f"encoder_int8_cr{self.cr}"), threads)
        self.dec = onnx_session(card.file(f"decoder_cr{self.cr}"), threads)
        self.note = (f"CSI from the {self.n_ant}-antenna pilot sweep, int8 UE encoder CR {self.cr} "
                     f"({2048 // self.cr} values), fp32 BS decoder")

    def reset(self) -> None:
        pass

    def predict(self, frames: np.ndarray) -> Prediction:
        t0 = time.perf_counter()
        frames = np.asarray(frames)
        n = len(frames)
        H = dcsi.estimate_from_pilots(frames[:, 0] if frames.ndim == 3 else frames, self.n_ant, self.n_sc,
                                      self.cp, seed=self.pilot_seed)
        x, _ = dcsi.to_real(dcsi.angular_delay(H, 32))
        s = self.enc.run(None, {"x": x})[0]
        x_hat = self.dec.run(None, {"s": s})[0]
        good = int(np.sum(dcsi.nmse(x, x_hat) < 0.1)) if n else 0
        return Prediction(n=n, outputs={"reconstruction": x_hat, "estimate": x, "codeword": s},
                          stats={"good_reconstruction": good}, seconds=time.perf_counter() - t0)
