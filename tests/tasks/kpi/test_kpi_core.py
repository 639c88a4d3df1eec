"""kpi task: JS divergence, segment assignment (joint features), node freezing, a tiny training run."""

from __future__ import annotations

import numpy as np
import pytest

from sdrkit.dsp.kpi_sim import Feature, Segmenter, get_sim, js_divergence


def test_js_base2_matches_closed_forms():
    # disjoint supports: 1 bit; identical: 0
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    assert js_divergence([0.2, 0.8], [0.2, 0.8]) == pytest.approx(0.0)
    # P = (1, 0), Q = (1/2, 1/2): JS = 1/2 [log2(4/3)] + 1/2 [1/2 log2(2/3) + 1/2 log2 2]
    closed = 0.5 * np.log2(4 / 3) + 0.5 * (0.5 * np.log2(2 / 3) + 0.5)
    assert js_divergence([1, 0], [0.5, 0.5]) == pytest.approx(closed, rel=1e-12)
    # U[0, 1] vs U[a, 1 + a]: JS = a bits (each non-overlapping part contributes a/2)
    e = np.linspace(0, 2, 4001)
    for a in (0.1, 0.3, 0.75):
        p = np.diff(np.clip(e, 0, 1))
        q = np.diff(np.clip(e, a, 1 + a))
        assert js_divergence(p, q) == pytest.approx(a, abs=2e-3)


def test_segments_follow_table_one_and_joint_rows_sit_in_each_features_segment():
    ce = get_sim("ce")
    # Rayleigh: P(|h|^2 <= x) = 1 - exp(-x): the deep-fade segment 5 is |h|^2 below -ln(1 - 2e-6)
    assert ce.edges[0][1] == pytest.approx(-np.log1p(-2e-6), rel=1e-3)
    x = np.array([[1e-7], [1e-4], [0.1], [0.4], [2.0]])
    assert ce.feature_segments(x)[:, 0].tolist() == [4, 3, 2, 1, 0]
    seg = Segmenter((Feature("a", "continuous"), Feature("b", "categorical", categories=(1, 2, 3))), 3,
                    edges={0: np.array([0.0, 1.0, 2.0, 3.0]), 1: np.arange(4.0)}, tail_low={0: False, 1: False})
    lab = seg.labels(np.array([[0.5, 2], [1.5, 1], [2.5, 2], [0.2, 0]]))
    # row 0: a in segment 1, b in segment 3 -> labels 1 and 3
    assert lab.tolist() == [[True, False, True], [False, True, False], [False, False, True], [True, False, False]]
    # proportions of a simulated data set match Table I where the seed gives them
    rng = np.random.default_rng(0)
    xs = ce.draw(400_000, rng)
    frac = np.bincount(ce.feature_segments(xs)[:, 0], minlength=5) / len(xs)
    assert frac[:4] == pytest.approx([0.546998, 0.23, 0.22, 0.003], abs=3e-3)
    # the weighted reference reproduces the natural law (segment probabilities) with every segment populated
    xr, w = ce.reference(200_000, rng)
    fs = ce.feature_segments(xr)[:, 0]
    assert [w[fs == s].sum() for s in range(5)] == pytest.approx(list(ce.probs[0]), rel=0.05)
    assert min(np.bincount(fs, minlength=5)) > 30_000


def test_freezing_keeps_frozen_weights_fixed_and_label_weights_trainable():
    import torch

    from sdrkit.nn.kpi import KpiGenerator, NodeFreezer

    torch.manual_seed(0)
    g = KpiGenerator(4, ["continuous"], [0], latent=6, hidden=12, layers=3, dropout=0.0)
    fr = NodeFreezer(g, 0.75, seed=0)
    assert fr.freeze(0) == 9 and fr.freeze(1) == 9 and fr.freeze(5) == 0
    lin0, lin1 = g.linears()[0], g.linears()[1]
    w0, b1 = lin0.weight.detach().clone(), lin1.bias.detach().clone()
    m0, mb1 = fr.frozen[0][1], fr.frozen[1][3]
    opt = torch.optim.Adam(g.parameters(), lr=0.05)
    for _ in range(5):
        loss = g(torch.randn(32, 10)).pow(2).mean() + sum(p.pow(2).sum() for p in g.parameters())
        opt.zero_grad()
        loss.backward()
        fr.zero_grads()
        opt.step()
        fr.restore()
    assert torch.equal(lin0.weight[m0], w0[m0])            # frozen rows fixed
    assert torch.equal(lin1.bias[mb1], b1[mb1])
    assert not torch.equal(lin0.weight[:, -4:], w0[:, -4:])   # label columns still train
    assert not torch.equal(lin0.weight[~m0], w0[~m0])        # free nodes train


def test_tiny_training_run_lowers_js():
    from sdrkit.tasks.kpi.data import label_ranges
    from sdrkit.tasks.kpi.train import GanConfig, build_tables, train_gan

    sim = get_sim("ce")
    x = sim.draw(20_000, np.random.default_rng(1))
    lo, hi = label_ranges(x, sim)
    tables = build_tables(x, sim, lo, hi)
    cfg = GanConfig(method="cwgan", latent=8, hidden=16, layers=2, dropout=0.0, n_critic=2, batch=64, steps=80,
                    eval_every=20, patience=[100], lr=1e-3, threads=1)
    _, hist = train_gan(x, sim, tables, cfg, log=lambda m: None)
    js = [e[1] for e in hist["segments"][0]["evals"]]
    assert min(js[1:]) < js[0] - 0.05, js
