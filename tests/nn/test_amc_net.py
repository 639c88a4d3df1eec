"""The early-exit AMC network: amplitude histograms, feature packing, split graphs."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def _qam_frames(order: int, n: int = 8, symbols: int = 1024, seed: int = 0) -> torch.Tensor:
    """Unit-RMS square QAM symbols, one per sample (no pulse shaping): ideal constellation rings."""
    rng = np.random.default_rng(seed)
    m = int(np.sqrt(order))
    levels = 2 * np.arange(m) - (m - 1)
    s = rng.choice(levels, (n, symbols)) + 1j * rng.choice(levels, (n, symbols))
    s = s / np.sqrt(np.mean(np.abs(s) ** 2))
    return torch.tensor(np.stack([s.real, s.imag], axis=1), dtype=torch.float32)


def test_histogram_bins_are_triangular_counts_of_the_amplitude():
    """The ramp/second-difference form equals counting the amplitude into triangular bins."""
    from sdrkit.nn.amc import AmpHistogram

    hist = AmpHistogram(bins=12, strides=(1,), taps=(1,))
    x = torch.randn(4, 2, 1024)
    got = hist(x)
    a2 = x[:, 0] ** 2 + x[:, 1] ** 2
    a = torch.sqrt(a2 / a2.mean(dim=-1, keepdim=True))
    centers = torch.linspace(0, 2, 12)
    want = torch.relu(1 - (a[:, None, :] - centers[None, :, None]).abs() * 11 / 2).mean(-1)
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.all(got.sum(1) > 0.95)            # nearly all amplitudes fall inside [0, 2]


def test_histogram_separates_qam16_rings_from_qam64():
    """QAM16's three rings leave the bin between its first two rings (~0.7) nearly empty; QAM64 fills it."""
    from sdrkit.nn.amc import AmpHistogram

    hist = AmpHistogram(bins=12, strides=(1,), taps=(1,))
    gap_bin = int(round(0.727 / (2 / 11)))         # the bin centred at 0.727
    h16, h64 = hist(_qam_frames(16)), hist(_qam_frames(64))
    assert float(h16[:, gap_bin].max()) < 0.02
    assert float(h64[:, gap_bin].min()) > 0.08


def test_pack_and_unpack_round_trip():
    from sdrkit.nn.amc import pack, unpack

    z, h = torch.randn(3, 16, 64), torch.randn(3, 100)   # 100 > 64: needs two rows
    f = pack(z, h)
    assert f.shape == (3, 18, 64)
    z2, h2 = unpack(f, 16, 100)
    assert torch.equal(z, z2) and torch.equal(h, h2)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_stem_then_rest_equals_the_backbone(k):
    from sdrkit.nn.amc import EarlyExitNet, Full, Rest, Stem

    net = EarlyExitNet(11).eval()
    x = torch.randn(5, 2, 1024)
    with torch.no_grad():
        out = net(x)
        exit_logits, f = Stem(net, k)(x)
        assert torch.allclose(exit_logits, out[str(k)], atol=1e-5)
        assert torch.allclose(Rest(net, k)(f), out["backbone"], atol=1e-5)
        assert torch.allclose(Full(net)(x), out["backbone"], atol=1e-5)
        assert net.embedding(x).shape == (5, 64)


def test_split_graphs_export_and_agree_in_onnxruntime(tmp_path):
    pytest.importorskip("onnxruntime")
    from sdrkit.nn.amc import EarlyExitNet
    from sdrkit.runtime.session import onnx_session
    from sdrkit.tasks.amc.train import export_all

    net = EarlyExitNet(11).eval()
    files = export_all(net, tmp_path, 1024)
    x = torch.randn(3, 2, 1024)
    with torch.no_grad():
        want = net(x)["backbone"].numpy()
    e, f = onnx_session(tmp_path / files["stem_e1"]).run(None, {"x": x.numpy()})
    got = onnx_session(tmp_path / files["rest_e1"]).run(None, {"f": f})[0]
    assert np.allclose(got, want, atol=1e-3)
