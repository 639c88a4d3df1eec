"""The AMC live path's optional blind CFO front end: off by default, runs before the classifier
when chosen, its time kept apart from the model's; unknown names refused."""

import numpy as np
import pytest

from sdrkit.dsp import modulate
from sdrkit.dsp.frontend import correct_cfo
from sdrkit.errors import ConfigError
from sdrkit.resources import resolve
from sdrkit.runtime import load_card
from sdrkit.tasks.amc.live import AmcPredictor


@pytest.fixture(scope="module")
def card():
    return load_card(resolve("models", "amc"))


def _frames(card, cfo_hz):
    n = card.input.frame_len
    x = modulate("qpsk", 8 * n, rng=np.random.default_rng(1), sps=4).astype(np.complex64)
    x *= np.exp(2j * np.pi * cfo_hz / card.input.sample_rate * np.arange(len(x))).astype(np.complex64)
    return x.reshape(8, 1, n)


def test_off_by_default_and_the_same_as_correcting_first_when_on(card):
    f = _frames(card, 40e3)
    plain = AmcPredictor(card)
    assert plain.front_end is None and "front end" not in plain.note
    fe = AmcPredictor(card, front_end="cfo")
    got = fe.predict(f)
    want = plain.predict(correct_cfo(f[:, 0], fs=card.input.sample_rate)[:, None, :])
    assert np.array_equal(got.labels, want.labels) and np.allclose(got.probs, want.probs, atol=1e-5)
    assert fe.front_end_seconds > 0 and "corrector cfo" in fe.note
    fe.set_front_end(None)
    assert fe.front_end is None and "front end" not in fe.note


def test_an_unknown_front_end_is_refused(card):
    with pytest.raises(ConfigError, match="AMC front end 'agc'.*cfo"):
        AmcPredictor(card, front_end="agc")
