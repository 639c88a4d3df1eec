"""Classical direction finding on planar arrays: 2-D MUSIC (grid search plus local
refinement) and 2-D unitary ESPRIT for a URA. Conventions: :mod:`sdrkit.dsp.array`.

Both take complex frames ``(batch, elements, n)`` and return ``(az, el)`` in degrees,
``(batch, sources)`` each; both accept ``gains``, an array response to correct for
(``frames`` are divided by it per channel: an array calibration, see
:func:`sdrkit.dsp.array.estimate_channel_gains`). Without it they assume the ideal array.
"""

from __future__ import annotations

import numpy as np

from sdrkit.dsp.array import ArrayGeometry, angles_from_cosines, direction_cosines, steering
from sdrkit.errors import ConfigError


def covariance(frames, gains=None) -> np.ndarray:
    """Sample covariance ``R = X X^H / n`` per frame: complex128 ``(batch, E, E)``."""
    x = np.asarray(frames)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ConfigError(f"frames of shape {x.shape}: expected complex (batch, elements, samples)")
    x = x.astype(np.complex128)
    if gains is not None:
        x = x / np.asarray(gains, np.complex128)[None, :, None]
    return np.einsum("ben,bfn->bef", x, x.conj()) / x.shape[-1]


class Music2D:
    """2-D MUSIC on a planar array: pseudo-spectrum ``1 / |E_n^H a(az, el)|^2`` on a grid, the
    ``sources`` highest local maxima, each refined by successive finer local grids.

    Args:
        geometry: the array.
        sources: sources per frame.
        span_deg: search +-span_deg in azimuth and elevation.
        grid_deg: coarse grid step, degrees.
        refine: refinement levels (each 5x finer over +-1 coarser step).
    """

    def __init__(self, geometry: ArrayGeometry, sources: int = 1, span_deg: float = 60.0, grid_deg: float = 2.0,
                 refine: int = 3):
        if sources < 1 or sources >= geometry.elements:
            raise ConfigError(f"MUSIC resolves 1..{geometry.elements - 1} sources with {geometry.elements} "
                              f"elements, not {sources}")
        self.geometry, self.sources, self.refine = geometry, int(sources), int(refine)
        self.grid_deg = float(grid_deg)
        self.az = np.arange(-span_deg, span_deg + 1e-9, grid_deg)
        self.el = np.arange(-span_deg, span_deg + 1e-9, grid_deg)
        A, E = np.meshgrid(self.az, self.el, indexing="ij")
        self.A = steering(geometry, A, E).reshape(-1, geometry.elements)           # (G, E)
        self.span = float(span_deg)

    def _noise_subspace(self, R):
        _, vec = np.linalg.eigh(R)
        return vec[..., : R.shape[-1] - self.sources]                             # (B, E, E-S)

    def spectrum(self, frames, gains=None) -> np.ndarray:
        """MUSIC pseudo-spectrum on the coarse grid, ``(batch, n_az, n_el)``."""
        En = self._noise_subspace(covariance(frames, gains))
        p = np.einsum("bem,ge->bgm", En.conj(), self.A)
        d = np.sum(np.abs(p) ** 2, axis=-1)
        return (1.0 / np.maximum(d, 1e-15)).reshape(-1, len(self.az), len(self.el))

    def __call__(self, frames, gains=None) -> tuple[np.ndarray, np.ndarray]:
        R = covariance(frames, gains)
        En = self._noise_subspace(R)
        B = En.shape[0]
        p = np.einsum("bem,ge->bgm", En.conj(), self.A)
        spec = (1.0 / np.maximum(np.sum(np.abs(p) ** 2, axis=-1), 1e-15)).reshape(B, len(self.az), len(self.el))
        # local maxima over the 8-neighbourhood (edges padded with -inf)
        pad = np.pad(spec, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
        peak = np.ones_like(spec, bool)
        for da in (-1, 0, 1):
            for de in (-1, 0, 1):
                if da or de:
                    peak &= spec >= pad[:, 1 + da:1 + da + spec.shape[1], 1 + de:1 + de + spec.shape[2]]
        score = np.where(peak, spec, -np.inf).reshape(B, -1)
        top = np.argsort(-score, axis=1)[:, : self.sources]
        ia, ie = np.divmod(top, len(self.el))
        az, el = self.az[ia], self.el[ie]                                            # (B, S)
        # no second peak (a flat spectrum): repeat the best one
        bad = ~np.isfinite(np.take_along_axis(score, top, 1))
        az[bad], el[bad] = np.repeat(az[:, :1], self.sources, 1)[bad], np.repeat(el[:, :1], self.sources, 1)[bad]
        step = self.grid_deg
        off = np.linspace(-1, 1, 11)
        oa, oe = np.meshgrid(off, off, indexing="ij")
        oa, oe = oa.ravel(), oe.ravel()
        for _ in range(self.refine):
            ca = np.clip(az[..., None] + step * oa, -90, 90)                          # (B, S, 121)
            ce = np.clip(el[..., None] + step * oe, -90, 90)
            a = steering(self.geometry, ca, ce)                                       # (B, S, K, E)
            q = np.einsum("bem,bske->bskm", En.conj(), a)
            j = np.argmin(np.sum(np.abs(q) ** 2, axis=-1), axis=-1)                   # (B, S)
            az = np.take_along_axis(ca, j[..., None], -1)[..., 0]
            el = np.take_along_axis(ce, j[..., None], -1)[..., 0]
            step /= 5.0
        return az, el


def _q_matrix(m: int) -> np.ndarray:
    """Unitary left Pi-real matrix of order ``m`` (Haardt and Nossek)."""
    n = m // 2
    I, P = np.eye(n), np.fliplr(np.eye(n))
    if m % 2 == 0:
        q = np.block([[I, 1j * I], [P, -1j * P]])
    else:
        z = np.zeros((n, 1))
        q = np.block([[I, z, 1j * I], [z.T, np.sqrt(2) * np.ones((1, 1)), z.T], [P, z, -1j * P]])
    return q / np.sqrt(2)


class UnitaryEsprit2D:
    """2-D unitary ESPRIT for a URA (Zoltowski, Haardt and Mathews, IEEE Trans. SP 1996).

    Forward-backward averaged covariance made real by the unitary transform, its real signal
    subspace, one real-valued shift-invariance equation per array axis
    (``K1 E_s Psi = K2 E_s``, eigenvalues ``tan(mu / 2)``), and the joint eigen-decomposition
    of ``Psi_u + j Psi_v``, which pairs the u and v estimates of each source.

    Args:
        geometry: a URA with at least 2 rows and 2 columns.
        sources: sources per frame (at most ``(rows - 1) * cols`` and ``rows * (cols - 1)``).
    """

    def __init__(self, geometry: ArrayGeometry, sources: int = 1):
        R, C = geometry.rows, geometry.cols
        if R < 2 or C < 2:
            raise ConfigError(f"2-D ESPRIT needs at least 2 rows and 2 columns, not {R}x{C}")
        if not 1 <= sources <= min((R - 1) * C, R * (C - 1)):
            raise ConfigError(f"2-D ESPRIT on a {R}x{C} URA resolves 1..{min((R - 1) * C, R * (C - 1))} sources, "
                              f"not {sources}")
        self.geometry, self.sources = geometry, int(sources)
        self.Q = np.kron(_q_matrix(R), _q_matrix(C))
        J2c = np.eye(C)[1:]
        J1c = np.eye(C)[:-1]
        J2r = np.eye(R)[1:]
        J1r = np.eye(R)[:-1]
        # columns (x, u): I_R (x) J ; rows (y, v): J (x) I_C  (element index r * C + c)
        qu = np.kron(_q_matrix(R), _q_matrix(C - 1))
        qv = np.kron(_q_matrix(R - 1), _q_matrix(C))
        J1u, J2u = np.kron(np.eye(R), J1c), np.kron(np.eye(R), J2c)
        J1v, J2v = np.kron(J1r, np.eye(C)), np.kron(J2r, np.eye(C))
        self.K1u = np.real(qu.conj().T @ (J1u + J2u) @ self.Q)
        self.K2u = np.real(qu.conj().T @ (1j * (J1u - J2u)) @ self.Q)
        self.K1v = np.real(qv.conj().T @ (J1v + J2v) @ self.Q)
        self.K2v = np.real(qv.conj().T @ (1j * (J1v - J2v)) @ self.Q)
        self.Pi = np.fliplr(np.eye(geometry.elements))

    def __call__(self, frames, gains=None) -> tuple[np.ndarray, np.ndarray]:
        Rm = covariance(frames, gains)
        Rfb = 0.5 * (Rm + self.Pi @ Rm.conj() @ self.Pi)
        Cr = np.real(np.einsum("ei,bef,fj->bij", self.Q.conj(), Rfb, self.Q))
        _, vec = np.linalg.eigh(Cr)
        Es = vec[..., -self.sources:]                                               # (B, E, S) real
        Au, Bu = self.K1u @ Es, self.K2u @ Es
        Av, Bv = self.K1v @ Es, self.K2v @ Es
        Psu = _lstsq(Au, Bu)
        Psv = _lstsq(Av, Bv)
        lam = np.linalg.eigvals(Psu + 1j * Psv)                                     # (B, S)
        d = self.geometry.spacing
        mu_u, mu_v = 2 * np.arctan(lam.real), 2 * np.arctan(lam.imag)
        u, v = mu_u / (2 * np.pi * d), mu_v / (2 * np.pi * d)
        az, el = angles_from_cosines(u, v)
        return az, el


def _lstsq(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Batched least squares ``A X = B`` via the normal equations (A is tall and full rank)."""
    At = np.swapaxes(A, -1, -2)
    return np.linalg.solve(At @ A + 1e-12 * np.eye(A.shape[-1]), At @ B)


def angular_error_deg(az_true, el_true, az_est, el_est) -> tuple[np.ndarray, np.ndarray]:
    """Absolute azimuth and elevation errors, degrees (azimuth wrapped to +-180)."""
    da = (np.asarray(az_est) - np.asarray(az_true) + 180.0) % 360.0 - 180.0
    return np.abs(da), np.abs(np.asarray(el_est) - np.asarray(el_true))


def match_sources(az_true, el_true, az_est, el_est) -> tuple[np.ndarray, np.ndarray]:
    """Reorder estimated sources (per frame) to the true ones by least total error (``(B, S)``, S <= 3)."""
    import itertools

    at, et, ae, ee = (np.atleast_2d(np.asarray(a, float)) for a in (az_true, el_true, az_est, el_est))
    S = at.shape[1]
    best = None
    for perm in itertools.permutations(range(S)):
        e = np.sum(np.abs(ae[:, perm] - at) + np.abs(ee[:, perm] - et), axis=1)
        if best is None:
            best, bp = e, np.tile(np.array(perm), (len(e), 1))
        else:
            better = e < best
            best = np.where(better, e, best)
            bp[better] = perm
    return np.take_along_axis(ae, bp, 1), np.take_along_axis(ee, bp, 1)


__all__ = ["Music2D", "UnitaryEsprit2D", "angular_error_deg", "covariance", "direction_cosines", "match_sources"]
