"""Every bundled capture is a valid, labelled recording that says how it was made."""

from pathlib import Path

import pytest

from sdrkit.capture import open_recording

CAPTURES = sorted((Path(__file__).resolve().parents[1] / "captures").glob("*.sigmf-meta"))


def test_captures_exist_and_stay_small():
    assert CAPTURES, "captures/ must hold the demo recordings"
    total = sum(p.stat().st_size + p.with_suffix(".sigmf-data").stat().st_size for p in CAPTURES)
    assert total < 30e6


@pytest.mark.parametrize("meta", CAPTURES, ids=lambda p: p.stem)
def test_capture_is_complete_labelled_and_reproducible(meta):
    with open_recording(meta) as rec:
        assert not rec.interrupted and rec.num_samples > 0
        assert rec.global_info["sdrkit:command"].startswith(("sdrkit synth ", "sdrkit dataset "))
        assert "sdrkit:seed" in rec.global_info
        labels = {l[2] for l in rec.labels()}
        assert labels and None not in labels
