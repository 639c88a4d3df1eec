"""The 2x2 shaping reference of ``sdrkit evaluate mimo`` alone, on a fine grid (a module of its own:
:mod:`sdrkit.tasks.mimo.shaping` is imported by the evaluation, this module imports both).

``python -m sdrkit.tasks.mimo.shaping_reference`` prints Es/N0 at BER 1e-3 of QPSK LMMSE, QPSK ML
and the optimized codebook with ML, for seeds 1 and 2.
"""

from __future__ import annotations

import numpy as np


def measure_reference(seed: int = 1, lo: float = 8.5, hi: float = 11.5, step: float = 0.25,
                      min_errors: int = 1000, max_bits: int = 10_000_000) -> dict:
    """The 2x2 coupled-channel shaping reference alone, on a fine Es/N0 grid: Es/N0 at BER 1e-3
    of Gray QPSK with LMMSE and with ML, and of the optimized codebook with ML (optimized at the
    QPSK-ML point minus 0.4 dB, 8 starts, seed ``seed``), with the same BER machinery and seed
    keys as ``sdrkit evaluate mimo``. ``python -m sdrkit.tasks.mimo.shaping_reference`` prints it."""
    from sdrkit.dsp.mimo import coupling_matrix
    from sdrkit.tasks.mimo.evaluate import ber_curve, codebook_fn, hash_key, qam_fn, snr_at

    snrs = np.arange(lo, hi + 1e-9, step)

    def curve(name, fn):
        return ber_curve(fn, snrs, (seed, hash_key("shaping"), hash_key(name)), min_errors, max_bits, stop_ber=1e-4)

    h = coupling_matrix(2, 2)
    mmse = curve("qpsk MMSE", qam_fn(2, 2, 2, "coupling", "mmse"))
    ml = curve("qpsk ML", qam_fn(2, 2, 2, "coupling", "ml"))
    from sdrkit.tasks.mimo.shaping import optimized_codebook

    opt = optimized_codebook(h, 2, snr_at(ml) - 0.4, starts=8, steps=3000, seed=seed)
    shaped = curve("shaped ML", codebook_fn(opt["codebook"], opt["labels"], h))
    at = {k: snr_at(c) for k, c in (("qpsk_mmse", mmse), ("qpsk_ml", ml), ("optimized_ml", shaped))}
    return {"es_n0_at_1e-3_db": at, "gain_over_qpsk_mmse_db": at["qpsk_mmse"] - at["optimized_ml"],
            "gain_over_qpsk_ml_db": at["qpsk_ml"] - at["optimized_ml"], "union_bound": opt["union_bound"],
            "qam_union_bound": opt["qam_union_bound"], "curves": {"qpsk_mmse": mmse, "qpsk_ml": ml,
                                                                  "optimized_ml": shaped}}


if __name__ == "__main__":
    import json

    import sys

    if len(sys.argv) > 1:
        print(__doc__.strip())
        raise SystemExit(0 if sys.argv[1] in ("-h", "--help") else 2)
    for seed in (1, 2):
        print(f"seed {seed}: BER curves of QPSK LMMSE, QPSK ML and the optimized codebook (about 30 s) ...",
              file=sys.stderr, flush=True)
        r = measure_reference(seed=seed)
        print(json.dumps({"seed": seed, **{k: v for k, v in r.items() if k != "curves"}}), flush=True)
