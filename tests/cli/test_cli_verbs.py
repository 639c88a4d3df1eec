"""The CLI end to end through main([...]): synth -> info -> replay -> capture -> spectrogram -> demo."""

import json

import pytest

from sdrkit.capture import open_recording
from sdrkit.cli import main


@pytest.fixture(scope="module")
def synth_rec(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "mix"
    assert main(["synth", "--out", str(out), "--mods", "qpsk,am-dsb,tone", "--snr", "10,20",
                 "--frames-per-segment", "4", "--seed", "5", "--datatype", "ci16_le"]) == 0
    return out.with_suffix(".sigmf-meta")


def test_synth_writes_labelled_recording_with_its_command(synth_rec):
    rec = open_recording(synth_rec)
    labels = [l[2] for l in rec.labels()]
    assert labels == ["qpsk", "qpsk", "am-dsb", "am-dsb", "tone", "tone"]
    assert rec.labels()[1][3]["snr_db"] == 20.0
    assert rec.global_info["sdrkit:command"].startswith("sdrkit synth --out")
    assert rec.global_info["sdrkit:seed"] == 5 and rec.num_samples == 6 * 4 * 1024


def test_info_text_and_json(synth_rec, capsys):
    assert main(["info", str(synth_rec)]) == 0
    out = capsys.readouterr().out
    assert "1e+06 S/s" in out and "qpsk" in out and "complete      yes" in out
    assert main(["info", str(synth_rec), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["annotations"] == {"am-dsb": 2, "qpsk": 2, "tone": 2} and d["num_samples"] == 24576


def test_info_on_missing_file_is_a_capture_error(tmp_path, capsys):
    assert main(["info", str(tmp_path / "none.sigmf-meta")]) == 1
    assert capsys.readouterr().err.startswith("CaptureError:")


def test_replay_reports_health(synth_rec, capsys):
    assert main(["replay", "--radio", f"sim:{synth_rec}?loop=0&faults=overflow@1:1", "--buffer-size", "2048"]) == 0
    out = capsys.readouterr().out
    assert "1 gaps, 2048 samples lost" in out


def test_capture_records_gaps_as_annotations(synth_rec, tmp_path, capsys):
    out = tmp_path / "cap"
    assert main(["capture", "--radio", f"sim:{synth_rec}?faults=overflow@2:2", "--buffer-size", "1000",
                 "--duration", "0.01", "--out", str(out), "--gain", "20"]) == 0
    rec = open_recording(out)
    assert rec.num_samples == 10_000
    gaps = [l for l in rec.labels() if l[2] == "gap"]
    assert gaps == [(2000, 0, "gap", {"lost_samples": 2000, "comment": "2000 samples lost by the radio before this point"})]
    assert rec.global_info["sdrkit:radio_config"]["rx_hardwaregain"] == 20.0
    assert rec.global_info["sdrkit:command"].startswith("sdrkit capture --radio")
    # capture refuses to overwrite without --overwrite
    assert main(["capture", "--radio", f"sim:{synth_rec}", "--duration", "0.01", "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err


def test_capture_out_of_range_setting_is_refused(synth_rec, tmp_path, capsys):
    assert main(["capture", "--radio", f"sim:{synth_rec}", "--rx-lo", "2e9", "--duration", "0.01",
                 "--out", str(tmp_path / "x")]) == 1
    assert "outside the recorded band" in capsys.readouterr().err


def test_spectrogram_png(synth_rec, tmp_path):
    png = tmp_path / "s.png"
    assert main(["spectrogram", str(synth_rec), "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_demo_streams_and_plots_without_model(synth_rec, tmp_path, capsys):
    assert main(["demo", "--capture", str(synth_rec), "--seconds", "0.3", "--out", str(tmp_path), "--no-model"]) == 0
    assert (tmp_path / "spectrogram.png").stat().st_size > 10_000
    assert "0 lost" in capsys.readouterr().out


def test_bench_quick_runs_and_writes_json(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bench", "replay", "--quick", "--seconds", "0.2", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    r = d["results"][0]
    assert r["unit"] == "MS/s" and r["value"] > 0 and r["ceiling"] > 0


def test_demo_classifies_live_with_the_bundled_model(tmp_path, capsys):
    from pathlib import Path

    card = Path(__file__).resolve().parents[2] / "models" / "amc" / "card.json"
    if not card.exists():
        pytest.skip("no bundled model in models/amc")
    assert main(["demo", "--seconds", "1.5", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "frames in" in out and "accuracy against the recording's labels" in out
    assert (tmp_path / "confusion.png").exists()
