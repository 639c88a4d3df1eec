"""Training on corrected frames: `sdrkit train amc --corrected-share` gives that share of the frames a raw
+/-60 kHz offset and the live corrector, so the model sees the residual the corrector leaves."""

import numpy as np
import pytest

from sdrkit.cli import main


def test_augment_corrects_the_chosen_share_and_leaves_the_rest_raw():
    from sdrkit.dsp.frontend import estimate_cfo
    from sdrkit.dsp import modulate
    from sdrkit.tasks.amc.train import _augment

    rng = np.random.default_rng(0)
    x = np.stack([modulate("qpsk", 1024, rng=rng, sps=8).astype(np.complex64) for _ in range(200)])
    raw = _augment(x, np.random.default_rng(1), 0.0)
    assert np.allclose(np.abs(raw), np.abs(x), atol=1e-5)          # only a phase rotation
    out = _augment(x, np.random.default_rng(1), 1.0)
    # every frame went through an offset of up to 60 kHz at 1 MS/s and the corrector: the estimate
    # left on it is near zero, as on the raw frames
    assert np.percentile(np.abs(estimate_cfo(out, 1e6)), 95) < 3e3
    half = _augment(x, np.random.default_rng(1), 0.5)
    # a frame left raw is x times one phasor: the ratio's sample-to-sample rotation is 0; a corrected
    # one keeps the corrector's residual offset (never exactly 0)
    r = half * np.conj(x)
    step = np.abs(np.angle(np.sum(r[:, 1:] * np.conj(r[:, :-1]), axis=1)))
    changed = step > 1e-5
    assert 0.3 < changed.mean() < 0.7


def test_corrected_share_outside_0_1_is_refused(tmp_path, capsys):
    assert main(["train", "amc", "--data", str(tmp_path), "--out", str(tmp_path / "m"),
                 "--corrected-share", "1.5"]) == 1
    assert "--corrected-share 1.5" in capsys.readouterr().err
