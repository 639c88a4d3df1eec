"""The sim-facing CLI verbs through sdrkit.cli.main: replay, capture, demo."""

import time

import numpy as np

from sdrkit.capture import open_recording
from sdrkit.cli import main
from sdrkit.cli.replay import with_option


def test_replay_realtime_paces_and_reports(tone_recording, capsys):
    t0 = time.monotonic()
    assert main(["replay", "--radio", f"sim:{tone_recording}?loop=0", "--realtime", "--buffer-size", "20000",
                 "--blocks", "10"]) == 0
    assert time.monotonic() - t0 >= 0.15       # 0.2 s of signal at 1 MS/s
    out = capsys.readouterr().out
    assert "10 blocks, 200000 samples" in out and "0 gaps, 0 samples lost, 0 timeouts" in out


def test_replay_counts_timeouts_and_gaps(capsys):
    assert main(["replay", "--radio", "sim:loopback?faults=timeout@1,overflow@3:2", "--buffer-size", "1000",
                 "--blocks", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("5 blocks, 5000 samples") and "1 gaps, 2000 samples lost, 1 timeouts" in out


def test_with_option_replaces_a_query_value():
    assert with_option("sim:a.sigmf-meta", "realtime", "1") == "sim:a.sigmf-meta?realtime=1"
    assert with_option("sim:a?realtime=0&loop=0", "realtime", "1") == "sim:a?loop=0&realtime=1"


def test_capture_of_loopback_with_faults_annotates_every_gap(tmp_path, capsys):
    out = tmp_path / "lb"
    assert main(["capture", "--radio", "sim:loopback?snr=20&faults=overflow@1:1,timeout@2,overflow@4:3",
                 "--buffer-size", "500", "--sample-rate", "2e6", "--duration", "0.002", "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "2 gaps, 2000 samples lost, 1 timeouts" in summary
    rec = open_recording(out)
    assert rec.num_samples == 4000 and rec.sample_rate == 2e6
    gaps = [(s, f["lost_samples"]) for s, c, label, f in rec.labels() if label == "gap"]
    assert gaps == [(500, 500), (1500, 1500)]
    assert "SimRadio" in rec.global_info.get("core:hw", "")
    assert rec.read().dtype == np.complex64


def test_demo_writes_png_to_a_file_path(tone_recording, tmp_path, capsys):
    png = tmp_path / "sub" / "demo_spectrogram.png"
    assert main(["demo", "--capture", str(tone_recording), "--seconds", "0.2", "--out", str(png), "--no-model"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "0 lost; wrote" in capsys.readouterr().out


def test_demo_without_capture_is_a_capture_error(tmp_path, capsys):
    assert main(["demo", "--capture", str(tmp_path / "none.sigmf-meta"), "--seconds", "0.1", "--no-model"]) == 1
    assert capsys.readouterr().err.startswith("CaptureError:")


def test_demo_labels_follow_the_looping_recording(qpsk_recording):
    from sdrkit.cli.demo import _labels_in_window
    from sdrkit.radio import open_radio

    with open_radio(f"sim:{qpsk_recording}") as r:      # one 'qpsk' label over all 100k samples
        assert _labels_in_window(r, 150_000, 100_000) == [(-50_000, 100_000, "qpsk"), (50_000, 100_000, "qpsk")]
        r.configure(sample_rate=500e3)                  # resampled: recording indices no longer apply
        assert _labels_in_window(r, 0, 1000) == []


def test_capture_records_every_channel_of_a_multichannel_radio(array_recording, tmp_path, capsys):
    out = tmp_path / "arr"
    assert main(["capture", "--radio", f"sim:{array_recording}?loop=0", "--duration", "0.05",
                 "--buffer-size", "4096", "--out", str(out)]) == 0
    assert "50000 samples x 4 channels" in capsys.readouterr().out
    rec = open_recording(out)
    assert rec.num_channels == 4 and rec.global_info["sdrkit:channels"] == [0, 1, 2, 3]
    assert np.array_equal(rec.read(), open_recording(array_recording).read(0, 50_000))


def test_capture_of_a_channel_subset_keeps_their_order(array_recording, tmp_path):
    out = tmp_path / "sub"
    assert main(["capture", "--radio", f"sim:{array_recording}?rx_enabled_channels=3,1", "--duration", "0.01",
                 "--out", str(out), "--datatype", "ci16_le"]) == 0
    rec = open_recording(out)
    assert rec.num_channels == 2 and rec.global_info["sdrkit:channels"] == [3, 1]
    assert rec.global_info["sdrkit:radio_config"]["rx_enabled_channels"] == [3, 1]
    assert np.allclose(rec.read(), open_recording(array_recording).read(0, 10_000, channels=[3, 1]), atol=1 / 32768)
