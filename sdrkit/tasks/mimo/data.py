"""``sdrkit dataset mimo``: the held-out evaluation draws, written down with their hashes.

An autoencoder trains on bits and noise drawn on the fly (torch seeds ``seed``, ``seed + 1``;
``seed`` < 100 for every bundled model). The evaluation draws come from numpy generators seeded
at ``>= 1000`` (this file's sets) and ``(eval seed, figure, curve, point)`` (``sdrkit evaluate``),
so no test draw can repeat a training draw. This verb writes one ``.npz`` per (channel, N_T, k)
set (bits and unit complex noise) and a ``manifest.json`` with their SHA-256; ``sdrkit train``
records the manifest's hash in the card.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

SETS = (("awgn", 2, 2), ("awgn", 2, 4), ("awgn", 2, 6), ("coupling", 2, 2), ("coupling", 4, 2), ("coupling", 8, 2))


def write_dataset(out: Path, uses: int, seed: int, command: str = "") -> Path:
    """Write the held-out sets and ``manifest.json`` under ``out``; returns the manifest path."""
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (channel, n_t, k) in enumerate(SETS):
        rng = np.random.default_rng([seed, i])
        bits = rng.integers(0, 2, (uses, n_t * k)).astype(np.uint8)
        noise = ((rng.standard_normal((uses, n_t)) + 1j * rng.standard_normal((uses, n_t))) / np.sqrt(2)
                 ).astype(np.complex64)
        path = out / f"{channel}-{n_t}x{n_t}-k{k}.npz"
        np.savez_compressed(path, bits=bits, noise=noise)
        entries.append({"file": path.name, "channel": channel, "n_t": n_t, "n_r": n_t, "k": k, "uses": uses,
                        "seed": [seed, i], "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    manifest = out / "manifest.json"
    manifest.write_text(json.dumps({"task": "mimo", "command": command, "seed": seed, "sets": entries,
                                    "note": "held-out draws; training draws come from torch seeds < 100"},
                                   indent=2) + "\n")
    return manifest
