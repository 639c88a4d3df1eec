"""Continuous SNR labels (AoA's) are binned in the score line, not one row per float."""

import numpy as np

from sdrkit.sinks.score import MAX_SNR_BINS, snr_bin


def test_a_few_distinct_snrs_keep_a_row_each_and_continuous_ones_are_binned():
    assert snr_bin([5.0, 15.0, 25.0] * 10) == 0.0
    rng = np.random.default_rng(0)
    v = rng.uniform(-10, 30, 2000)
    step = snr_bin(v)
    assert step == 5.0                                   # 40 dB span: 1 and 2 dB bins give > 16 rows
    assert len(set(np.round(v / step).tolist())) <= MAX_SNR_BINS
