"""The training channel: the differentiable weight noise is the delivery's own (per tensor
``rms / sqrt(snr * g)``), learned power gains keep the average power at 1 and reach the delivery,
and a bad ``--widths`` is one typed error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sdrkit.dsp import weights_link as wl
from sdrkit.errors import ConfigError
from sdrkit.tasks.airnet.sweep import parse_widths
from sdrkit.tasks.airnet.train import PowerGains, received


def _params():
    g = torch.Generator().manual_seed(0)
    return {"a.weight": torch.randn(64, 40, generator=g) * 0.3, "a.bias": torch.randn(64, generator=g) * 0.02,
            "b.weight": torch.randn(11, 64, generator=g) * 2.0}


def _noise_rel(rx, p):
    return {k: float(torch.sqrt(torch.mean((rx[k] - p[k]) ** 2) / torch.mean(p[k] ** 2))) for k in p}


def test_training_noise_matches_the_mathematical_channel():
    p = _params()
    gdb = {"a.weight": -1.0, "a.bias": 6.0, "b.weight": 4.0}
    rel_t = _noise_rel(received(p, 10.0, torch.Generator().manual_seed(1), np.random.default_rng(1), gains=gdb), p)
    pn = {k: v.numpy() for k, v in p.items()}
    rx = wl.deliver_math(pn, 10.0, np.random.default_rng(2), power=gdb)
    rel_m = {k: float(np.sqrt(np.mean((rx[k] - pn[k]) ** 2) / np.mean(pn[k] ** 2))) for k in pn}
    for k in p:       # the same relative noise per tensor (the delivery floors gains to 1/8 dB: ~3%)
        assert rel_t[k] == pytest.approx(rel_m[k], rel=0.25 if k == "a.bias" else 0.08), k
    assert rel_t["a.weight"] > rel_t["b.weight"] > rel_t["a.bias"]


def test_noise_is_differentiable_in_rms_and_gains():
    p = {k: v.clone().requires_grad_(True) for k, v in _params().items()}
    gains = PowerGains(wl.specs_of({k: v.detach().numpy() for k, v in p.items()}))
    rx = received(p, 10.0, torch.Generator().manual_seed(0), np.random.default_rng(0), gains=gains)
    sum((rx[k] - p[k]).pow(2).sum() for k in p).backward()
    assert gains.theta.grad is not None and torch.all(gains.theta.grad != 0)
    assert all(v.grad is not None and torch.any(v.grad != 0) for v in p.values())


def test_learned_gains_keep_unit_average_power():
    specs = wl.specs_of({"x": np.zeros((30, 7)), "y": np.zeros(11), "z": np.zeros((5, 5))})
    gains = PowerGains(specs, init_db={"x": -3.0, "y": 9.0})
    with torch.no_grad():
        gains.theta += torch.tensor([0.4, -1.0, 2.0])
    lin = gains.linear().detach().numpy()
    counts = wl.symbols_per_tensor(specs)
    assert np.sum(counts * lin) == pytest.approx(counts.sum(), rel=1e-6)
    db = gains.db()
    assert list(db) == ["x", "y", "z"] and all(abs(v * 8 - round(v * 8)) < 1e-9 for v in db.values())


@pytest.mark.parametrize("bad", ["32,64,64", "a,b,c,d", "32,0,64,96", ""])
def test_bad_widths_are_one_config_error(bad):
    with pytest.raises(ConfigError, match="--widths"):
        parse_widths(bad)
    assert parse_widths("32,64,64,96") == (32, 64, 64, 96)
