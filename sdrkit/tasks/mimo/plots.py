"""PNG figures of ``sdrkit evaluate mimo`` (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

TITLES = {
    "fig1a_awgn_2x2": "2x2 AWGN, 4 bits per use (seed Fig. 1a)",
    "fig1b_coupled_2x2": "2x2, cross-coupling 0.3, QPSK-equivalent (seed Fig. 1b)",
    "fig1c_coupled_4x4_8x8": "4x4 and 8x8, cross-coupling 0.3, k = 2 (seed Fig. 1c)",
    "fig1d_awgn_2x2_k": "2x2 AWGN, k = 2, 4, 6 (seed Fig. 1d)",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ber_figure(curves: dict, path: Path, fig_name: str) -> Path:
    """BER vs Es/N0 with 95% confidence bars, one line per curve."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for name, c in curves.items():
        s, b = np.asarray(c["snr_db"]), np.asarray(c["ber"])
        ci = np.asarray(c["ci95"]).reshape(-1, 2)
        ok = b > 0
        style = "--" if any(t in name for t in ("QAM", "qpsk", "ML of")) else "-"
        ax.errorbar(s[ok], b[ok], yerr=[b[ok] - ci[ok, 0], ci[ok, 1] - b[ok]], fmt=style + "o", ms=3, capsize=2,
                    label=name)
    ax.set_yscale("log")
    ax.set_xlabel("Es/N0 per transmit antenna, measured power (dB)")
    ax.set_ylabel("BER")
    ax.set_title(TITLES.get(fig_name, fig_name), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def constellations(models: dict, path: Path) -> Path:
    """The learned constellation of every model, one panel per transmit antenna (at most 4 shown)."""
    plt = _plt()
    rows = [(n, m) for n, m in models.items() if m.nbits <= 16]
    if not rows:
        return path
    cols = max(min(m.n_t, 4) for _, m in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.4 * cols, 2.4 * len(rows)), squeeze=False)
    for r, (name, m) in enumerate(rows):
        cb, lab = m.codebook()
        for a in range(cols):
            ax = axes[r][a]
            if a >= m.n_t:
                ax.axis("off")
                continue
            pts = np.unique(np.round(cb[:, a], 6))
            ax.scatter(cb[:, a].real, cb[:, a].imag, s=4, alpha=0.3)
            ax.scatter(pts.real, pts.imag, s=10, c="k")
            if m.nbits <= 4:
                for c, l in zip(cb[:, a], lab):
                    ax.annotate("".join(map(str, l)), (c.real, c.imag), fontsize=5)
            ax.set_aspect("equal")
            ax.set_title(f"{name}\nantenna {a}", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def memory_figure(study: dict, path: Path) -> Path:
    """Estimated (eqs. 1-2) and measured training memory vs N_T for each k, AE and BAE."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, kind in zip(axes, ("ae", "bae")):
        for k, color in zip((2, 4, 6), ("C0", "C1", "C2")):
            rows = [r for r in study["rows"] if r["kind"] == kind and r["k"] == k]
            nt = [r["n_t"] for r in rows]
            ax.plot(nt, [r["estimate_bytes"] / 2 ** 30 for r in rows], "--", color=color, label=f"k={k} estimate")
            mx = [(r["n_t"], r["measured_bytes"] / 2 ** 30) for r in rows if r.get("measured_bytes")]
            if mx:
                ax.plot(*zip(*mx), "o-", color=color, label=f"k={k} measured")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("N_T (= N_R)")
        ax.set_ylabel("training memory (GiB)")
        w = study.get("widths", {})
        ax.set_title(f"{kind.upper()}: H_T={w.get('h_t')}, H_R={w.get('h_r')}, B={w.get('batch')}", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("estimated (eqs. 1-2, no resident buffer) vs measured (peak RSS) memory; AE points past "
                 "2 GiB are estimates only", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def gap_figure(gaps: dict, path: Path) -> Path:
    """Es/N0 gap to QPSK ML vs Es/N0 for the single-SNR and SNR-randomized models."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, g in gaps.items():
        ax.plot(g["snr_db"], g["gap_db"], "o-", label=name)
    ax.axhline(0.5, color="r", ls=":", label="target 0.5 dB")
    ax.set_xlabel("Es/N0 of QPSK ML (dB)")
    ax.set_ylabel("extra Es/N0 for the same BER (dB)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def link_figure(link: dict, path: Path) -> Path:
    """Over-the-radio BER (learned, MMSE, ML on the same frames) and the mathematical channel."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    labels, vals, errs = [], [], []
    for row in link["rows"]:
        for key, label in (("radio", "learned (radio)"), ("radio_mmse", "MMSE (radio)"), ("radio_ml", "ML (radio)"),
                           ("math", "learned (math channel)")):
            c = row.get(key)
            if not c:
                continue
            labels.append(f"{label}\n{row['measured_db']:.1f} dB")
            b = max(c["ber"], 1e-9)
            vals.append(b)
            errs.append([max(b - c["ci95"][0], 0), max(c["ci95"][1] - b, 0)])
    x = np.arange(len(vals))
    ax.bar(x, vals, yerr=np.asarray(errs).T if errs else None, capsize=3)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=6, rotation=30)
    ax.set_yscale("log")
    ax.set_ylabel("BER (zero errors drawn at 1e-9)")
    ax.set_title(f"{link['model']} over {link['radio']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
