"""Where the beam errors come from: the same cells as ``sdrkit evaluate beam``, split two ways.

``python -m sdrkit.tasks.beam.diagnose [CARD]`` prints, per cell, the 8-shot accuracy of the
learned encoder (plain prototypes) and of the classical baseline when the shots come from the
first half of each beam's frames in time and the queries from the second half (the evaluate
split: the channel fades and drifts in between), and when shots and queries are interleaved in
time (a random half each). The cells are in-distribution ones only (trained families x
training-pool front ends, evaluate's seeds), so nothing held back is looked at. On sdrkit's own
front ends it also prints where the errors land (histogram of |predicted - true| in beams).
"""

from __future__ import annotations

import sys

import numpy as np


def _acc(f, y, sup, q, classes):
    from sdrkit.nn.proto import PrototypeHead

    h = PrototypeHead.fit(f[sup], y[sup], classes=classes, normalize=False)
    pred = np.asarray(h.classes)[h.predict(f[q])]
    return float(np.mean(pred == y[q])), np.abs(pred - y[q])[pred != y[q]]


def split_accuracy(feats: dict, y, shots: int, trials: int, rng) -> dict:
    """{split: {name: accuracy}} for the ``time`` and ``interleaved`` splits (same draws for all names)."""
    classes = np.unique(y)
    idx = {c: np.flatnonzero(y == c) for c in classes}
    out = {}
    for split in ("time", "interleaved"):
        acc = {n: [] for n in feats}
        for _ in range(trials):
            order = idx if split == "time" else {c: rng.permutation(v) for c, v in idx.items()}
            pool = {c: v[: len(v) // 2] for c, v in order.items()}
            q = np.concatenate([v[len(v) // 2:] for v in order.values()])
            sup = np.concatenate([rng.choice(pool[c], shots, replace=False) for c in classes])
            for n, f in feats.items():
                acc[n].append(_acc(f, y, sup, q, classes)[0])
        out[split] = {n: float(np.mean(v)) for n, v in acc.items()}
    return out


def main(argv=None) -> int:
    from sdrkit.runtime.calibration import Embedder
    from sdrkit.runtime.card import load_card
    from sdrkit.tasks.beam.baseline import template_features
    from sdrkit.tasks.beam.channels import TRAIN_FAMILIES
    from sdrkit.tasks.beam.evaluate import ID_FRONT_ENDS, SCENE_DS_NS, make_sets, scene_cell
    from sdrkit.tasks.beam.sim import ArraySpec, get_front_end, make_split, preamble

    argv = sys.argv[1:] if argv is None else argv
    card = load_card(argv[0] if argv else "models/beam/card.json")
    spec, embed = ArraySpec(), Embedder(card, threads=1)
    pre = preamble(spec)
    rng = np.random.default_rng(0)
    fams = [f for f in TRAIN_FAMILIES if f != "sdrkit"]
    j = 0
    for i, fam in enumerate(fams):
        for ds in SCENE_DS_NS:     # evaluate's in-distribution cells, its seeds
            fe = ID_FRONT_ENDS[i % len(ID_FRONT_ENDS)]
            x, y = make_split(spec, get_front_end(fe, spec.elements), 64,
                              np.random.default_rng([77, j, len("in_distribution")]), scene=scene_cell(fam, ds, j))
            j += 1
            r = split_accuracy({"learned": embed(x), "baseline": template_features(x, pre)}, y, 8, 4, rng)
            print(f"{fam} {ds:g} ns {fe}: time split learned {r['time']['learned']:.3f} baseline "
                  f"{r['time']['baseline']:.3f} | interleaved learned {r['interleaved']['learned']:.3f} baseline "
                  f"{r['interleaved']['baseline']:.3f}")
    sets = make_sets(spec, ["fe-a", "fe-b", "fe-c", "fe-d"], 64, 1)
    dist = []
    for n, (x, y) in sets.items():
        f = embed(x)
        classes = np.unique(y)
        for _ in range(10):
            pool = {c: np.flatnonzero(y == c)[:32] for c in classes}
            q = np.concatenate([np.flatnonzero(y == c)[32:] for c in classes])
            sup = np.concatenate([rng.choice(pool[c], 8, replace=False) for c in classes])
            dist.extend(_acc(f, y, sup, q, classes)[1].tolist())
    h = np.bincount(np.asarray(dist, int), minlength=spec.beams)
    print(f"own front ends fe-a..fe-d, 8-shot: {len(dist)} errors, on adjacent beams {h[1] / max(len(dist), 1):.1%}; "
          f"|error| histogram (beams 1..{spec.beams - 1}): {h[1:].tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
