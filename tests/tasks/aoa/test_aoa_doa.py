"""MUSIC 2-D and unitary ESPRIT 2-D on the planar-array simulator; array calibration from known shots."""

from __future__ import annotations

import numpy as np
import pytest

from sdrkit.dsp.array import (ArrayGeometry, FrontEnd, Scene, angles_from_cosines, direction_cosines,
                              estimate_channel_gains, get_front_end, ideal_front_end, simulate, steering)
from sdrkit.dsp.doa import Music2D, UnitaryEsprit2D, match_sources
from sdrkit.errors import ConfigError


def test_steering_follows_the_stated_convention():
    g = ArrayGeometry(2, 2)
    a = steering(g, 30.0, 0.0)
    # element 1 is one column (lambda/2 along x) over: phase pi * sin(30 deg)
    assert np.angle(a[1] / a[0]) == pytest.approx(np.pi * 0.5)
    u, v = direction_cosines(-40.0, 25.0)
    az, el = angles_from_cosines(u, v)
    assert (az, el) == (pytest.approx(-40.0), pytest.approx(25.0))


@pytest.mark.parametrize("cls", [Music2D, UnitaryEsprit2D])
def test_noiseless_two_sources_within_half_a_degree(cls):
    g = ArrayGeometry(4, 4)
    scene = Scene(geometry=g, frame_len=256, sources=2, reflectors=(0, 0))
    x, t = simulate(scene, ideal_front_end(16), 6, np.random.default_rng(3), noise=False)
    az, el = match_sources(t["az"], t["el"], *cls(g, sources=2)(x))
    assert np.max(np.abs(az - t["az"])) < 0.5 and np.max(np.abs(el - t["el"])) < 0.5


def test_single_source_2x2_at_20_db():
    g = ArrayGeometry(2, 2)
    x, t = simulate(Scene(geometry=g, frame_len=256, snr_db=(20, 20), reflectors=(0, 0)), ideal_front_end(4), 32,
                    np.random.default_rng(0))
    for est in (Music2D(g), UnitaryEsprit2D(g)):
        az, el = est(x)
        assert np.mean(np.abs(az[:, 0] - t["az"][:, 0])) < 1.5 and np.mean(np.abs(el[:, 0] - t["el"][:, 0])) < 1.5


def test_known_shots_recover_an_injected_phase_error():
    g = ArrayGeometry(2, 2)
    injected = np.array([0.0, 17.0, -12.5, 8.0])
    fe = FrontEnd("inj", (0.0, 1.0, -0.5, 0.3), tuple(injected), (0.0,) * 4)
    x, t = simulate(Scene(geometry=g, frame_len=256, snr_db=(20, 20), reflectors=(0, 0)), fe, 8,
                    np.random.default_rng(1))
    gains = estimate_channel_gains(x, g, t["az"][:, 0], t["el"][:, 0])
    assert np.max(np.abs(np.angle(gains, deg=True) - injected)) < 1.0
    assert np.max(np.abs(20 * np.log10(np.abs(gains)) - np.array([0.0, 1.0, -0.5, 0.3]))) < 0.2


def test_a_gain_change_is_measured_against_the_coupled_response_free_of_the_shots_directions():
    from sdrkit.tasks.aoa.calibration import estimate_response, gains_against

    g = ArrayGeometry(2, 2)
    scene = Scene(geometry=g, frame_len=256, snr_db=(20, 20), reflectors=(0, 0))
    cold = FrontEnd("cold", (0.0, 1.0, -0.5, 0.3), (0.0, 15.0, -12.0, 18.0), (0.0,) * 4, coupling=(0.12, 0.05))
    change = np.array([0.0, 6.0, -9.0, 4.0])                         # degrees, "the SDR got hot"
    hot = FrontEnd("hot", cold.gain_db, tuple(np.add(cold.phase_deg, change)), (0.0,) * 4, coupling=cold.coupling)
    xc, tc = simulate(scene, cold, 64, np.random.default_rng(2))
    xh, th = simulate(scene, hot, 8, np.random.default_rng(3))    # 8 shots from other directions
    M = estimate_response(xc, g, tc["az"][:, 0], tc["el"][:, 0])
    d = gains_against(xh, g, th["az"][:, 0], th["el"][:, 0], M)
    err_new = np.max(np.abs(np.angle(d, deg=True) - change))
    # per-channel gains ignore the coupling: their ratio carries each shot set's direction-dependent bias
    ratio = estimate_channel_gains(xh, g, th["az"][:, 0], th["el"][:, 0]) / \
        estimate_channel_gains(xc[:8], g, tc["az"][:8, 0], tc["el"][:8, 0])
    err_old = np.max(np.abs(np.angle(ratio, deg=True) - change))
    assert err_new < 0.5 and err_new < err_old, (err_new, err_old)
    with pytest.raises(ConfigError, match=">= 8"):
        estimate_response(xc[:5], g, tc["az"][:5, 0], tc["el"][:5, 0])


def test_temperature_drift_moves_the_channel_phases_at_the_named_rate():
    fe = get_front_end("bench-a", 4)
    d = np.angle(fe.gains(35.0) / fe.gains(0.0), deg=True)
    assert d == pytest.approx(35.0 * np.asarray(fe.drift_deg_per_c), abs=1e-6)
    assert min(abs(p) for p in fe.phase_deg[1:]) >= 10 and max(abs(p) for p in fe.phase_deg) <= 20


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="grating lobes"):
        ArrayGeometry(2, 2, spacing=0.7)
    with pytest.raises(ConfigError, match="has 4 elements"):
        simulate(Scene(geometry=ArrayGeometry(4, 4)), ideal_front_end(4), 2, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="2-D ESPRIT needs"):
        UnitaryEsprit2D(ArrayGeometry(1, 2))
