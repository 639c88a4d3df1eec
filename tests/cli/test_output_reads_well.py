"""Issue 20, output that reads well: threshold sweep, PCA, spectrogram annotations, live scoring."""

import numpy as np
import pytest


def _text_of(fig_path_fn, monkeypatch):
    """Run a plotting call with savefig captured: returns the figures it would have written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.figure

    seen = []

    def spy(self, *a, **k):           # keep the figure to inspect; skip rendering the PNG (slow on a busy machine)
        seen.append(self)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    fig_path_fn()
    return seen


def test_threshold_sweep_plot_is_sorted_thinned_marks_deployed_and_names_variant(tmp_path, monkeypatch):
    from sdrkit.tasks.amc.evaluate import save_threshold_sweep_png, thin_labels

    # a sweep in threshold order whose latencies zigzag, with crowded points
    sw = [{"threshold": t, "accuracy": a, "latency_ms": l, "exit_fraction": e, "deployed": t == 0.33}
          for t, a, l, e in [(0.0, 0.960, 0.50, 0.0), (0.1, 0.959, 0.49, 0.1), (0.15, 0.9585, 0.495, 0.15),
                             (0.33, 0.95, 0.30, 0.6), (0.5, 0.93, 0.31, 0.7), (0.8, 0.90, 0.20, 0.9),
                             (1.2, 0.85, 0.21, 1.0)]]
    figs = _text_of(lambda: save_threshold_sweep_png(sw, 0.33, "V1", tmp_path / "s.png"), monkeypatch)
    ax = figs[0].axes[0]
    line = ax.lines[0]
    assert list(line.get_xdata()) == sorted(line.get_xdata())            # no zigzag in x
    assert "V1" in ax.get_title()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("deployed T = 0.330" in t for t in legend)
    labels = [t for t in ax.texts if t.get_text().startswith("T=")]
    assert 2 <= len(labels) < len(sw)                                    # crowded labels dropped
    xs, ys = [p["latency_ms"] for p in sw], [p["accuracy"] for p in sw]
    kept = thin_labels(xs, ys)
    for i in kept:
        for j in kept:
            if i < j:
                assert max(abs(xs[i] - xs[j]) / np.ptp(xs), abs(ys[i] - ys[j]) / np.ptp(ys)) >= 0.08


def test_pca_plot_has_axis_labels_with_explained_variance(tmp_path, monkeypatch):
    from sdrkit.tasks.beam.evaluate import _pca_png

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(8), 20)
    e = (rng.standard_normal((160, 32)) + 3 * np.eye(32)[y]).astype(np.float32)
    figs = _text_of(lambda: _pca_png(tmp_path / "pca.png", e, y, "fe-c"), monkeypatch)
    ax = figs[0].axes[0]
    assert ax.get_xlabel().startswith("PC1 (") and "% of the variance" in ax.get_xlabel()
    assert ax.get_ylabel().startswith("PC2 (") and "explain" in ax.get_title()


def test_dense_spectrogram_labels_are_thinned_with_boundaries_and_snr(tmp_path, monkeypatch):
    from sdrkit.dsp.plot import label_runs, save_spectrogram_png

    x = (np.random.default_rng(0).standard_normal(120 * 512) * 0.1).astype(np.complex64)
    mods = ["qpsk", "bpsk", "wbfm", "am-dsb", "qam16"]
    dense = [(i * 512, 512, mods[i % 5], [0, 10, 20][i // 5 % 3]) for i in range(120)]
    figs = _text_of(lambda: save_spectrogram_png(x, 1e6, 915e6, tmp_path / "d.png", annotations=dense), monkeypatch)
    ax = figs[0].axes[0]
    labels = [t for t in ax.texts if "dB" in t.get_text() and "segments" not in t.get_text()]
    assert 5 < len(labels) <= 30                                       # not 120 piled into a column
    ys = sorted(t.xy[1] for t in labels)
    assert min(np.diff(ys)) >= 0.03 * (120 * 512 / 1e6)                 # never overlapping
    assert any("labels shown (thinned)" in t.get_text() for t in ax.texts)
    sparse = [(i * 2048, 2048, mods[i % 5], 10) for i in range(30)]
    figs = _text_of(lambda: save_spectrogram_png(x, 1e6, 915e6, tmp_path / "s.png", annotations=sparse), monkeypatch)
    ax = figs[-1].axes[0]
    assert len([l for l in ax.lines if l.get_linestyle() == "-"]) == 29  # a line at each segment boundary
    assert {t.get_text() for t in ax.texts} >= {"qpsk, 10 dB", "bpsk, 10 dB"}
    # runs of one label merge into one segment
    assert label_runs([(0, 10, "a", 5), (10, 10, "a", 5), (20, 10, "b")], 0.0, 1.0, 100.0) == \
        [(0.0, 0.2, "a, 5 dB"), (0.2, 0.3, "b")]


def test_live_scoring_per_snr_and_class_with_distinct_frames_of_a_loop(tmp_path):
    from sdrkit.runtime.predict import Prediction
    from sdrkit.sinks.base import PredictionBatch
    from sdrkit.sinks.score import ScoreSink

    class Truth:
        ok = True

        def lookup(self, start, n):           # a 4-frame recording replayed in a loop
            pos = start % 4096
            return (["qpsk", "qpsk", "bpsk", "bpsk"][pos // 1024], [20.0, 0.0, 20.0, 0.0][pos // 1024], pos)

    s = ScoreSink(Truth(), ["qpsk", "bpsk"], tmp_path)
    starts = np.arange(12) * 1024                       # three passes over the recording
    labels = np.array([0, 1, 1, 1] * 3)                 # the 0 dB qpsk frame is wrong
    s.on_batch(PredictionBatch(starts, Prediction(n=12, classes=("qpsk", "bpsk"), labels=labels,
                                                  probs=np.eye(2)[labels]), np.zeros(12), 1024))
    lines = s.close(None)
    assert "75.0% over 12 frames (4 distinct: the replay looped)" in lines[0]
    assert "20 dB 100% (6)" in lines[1] and "0 dB 50% (6)" in lines[1]
    assert "qpsk 50% (6)" in lines[2] and "bpsk 100% (6)" in lines[2]
    assert (tmp_path / "confusion.png").exists() and (tmp_path / "score.png").exists()
    r = s.rolling()
    assert r["per_snr"]["20"]["accuracy"] == 1.0 and r["distinct"] == 4
