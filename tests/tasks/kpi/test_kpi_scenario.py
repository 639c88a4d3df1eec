"""A scenario file drives the sim radio's per-block SNR, fading depth and delay as written."""

from __future__ import annotations

import numpy as np
import pytest

from sdrkit.capture import write_recording
from sdrkit.dsp.scenario import Scenario, load_scenario
from sdrkit.errors import ConfigError
from sdrkit.radio import open_radio

N = 4096


def test_scenario_file_drives_the_sim_radio_snr_fade_and_delay(tmp_path):
    t = np.arange(8 * N)
    tone = np.exp(2j * np.pi * 0.01 * t).astype(np.complex64)             # unit power, noiseless
    rec = write_recording(tmp_path / "tone", tone, sample_rate=1e6, center_frequency=1e9)
    snr = [20.0, 0.0, 10.0, -5.0]
    fade = [0.0, -20.0, -6.0, 0.0]
    delay = [0, 0, 100, 0]
    path = Scenario(snr_db=snr, fade_db=fade, delay=delay, faults=("overflow@5:1",)).save(tmp_path / "s.json")
    with open_radio(f"sim:{rec}?loop=1&scenario={path}&rx_buffer_size={N}") as radio:
        for k in range(4):
            x, _ = radio._rx()
            clean = tone[k * N:(k + 1) * N] * np.float32(10 ** (fade[k] / 20))
            if delay[k]:
                clean = np.concatenate([np.zeros(delay[k], np.complex64), clean[:-delay[k]]])
            noise = x - clean
            p_sig = np.mean(np.abs(tone[:N]) ** 2) * 10 ** (fade[k] / 10)
            measured = 10 * np.log10(p_sig / np.mean(np.abs(noise) ** 2))
            assert measured == pytest.approx(snr[k], abs=0.25), k
        assert radio._rx()[1] == 0                      # step 0 again (loop), block 4
        assert radio._rx()[1] == N                      # the scenario's fault at block 5
    assert load_scenario(path).steps == 4


def test_bad_scenario_is_refused(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"sdrkit_scenario": 1, "snr_db": [1, 2], "delay": [0]}')
    with pytest.raises(ConfigError, match="different lengths"):
        load_scenario(p)
    p.write_text('{"snr_db": [1]}')
    with pytest.raises(ConfigError, match="not a scenario"):
        open_radio(f"sim:?scenario={p}")
