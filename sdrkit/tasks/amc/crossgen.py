"""Cross-generator check: AMC frames made by GNU Radio 3.10, a generator sdrkit did not write.

**Validation only.** These frames are never used for training, threshold picking or model
selection; ``sdrkit evaluate amc`` scores the finished model on them, zero-shot.

GNU Radio runs under the system interpreter (``/usr/bin/python3``; it is not a PyPI
package), as in ``tests/stream/test_gnuradio_interop.py``. Its own blocks make every
signal: ``digital.generic_mod`` (BPSK, QPSK, 8PSK, 16QAM, 64QAM, PAM4 constellations; RRC,
excess bandwidth 0.2-0.5, 2-8 samples/symbol), ``digital.gfsk_mod`` (h 0.3-0.8, BT 0.3-0.5),
``analog.frequency_modulator_fc`` on rectangular NRZ (CPFSK, h 0.3-0.8), ``analog.wfm_tx``
(75 kHz deviation, 200 kS/s audio), full-carrier DSB AM (``add_const`` + ``float_to_complex``)
and ``filter.hilbert_fc`` SSB (upper sideband), from filtered ``analog.noise_source_f`` plus
``analog.sig_source_f`` tones as audio (2-10 kHz bandwidth); then ``channels.channel_model``
(CFO +/-1 kHz, clock offset +/-20 ppm, 1-3 multipath taps). The script then cuts 1024-sample
frames, scales each to unit power and adds complex white noise at the frame's full-band SNR
(sdrkit's definition: :mod:`sdrkit.dsp.impair`). The frames are written as a labelled SigMF
recording in the AMC split format (``crossgen.sigmf-meta``), so any AMC tool reads them.

Where GNU Radio is absent, :func:`make_crossgen` raises :class:`NotAvailable` and the
evaluation reports the target as not measured, naming what to install.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from sdrkit.errors import SdrkitError

SYS_PY = "/usr/bin/python3"
INSTALL = "install GNU Radio 3.10 for /usr/bin/python3: apt-get install --no-install-recommends gnuradio"
SNRS = (0, 4, 8, 10, 12, 14, 16, 18, 20)


class NotAvailable(SdrkitError):
    """The cross-generator (GNU Radio) is not installed here."""


GR_SCRIPT = r'''
import json, sys
import numpy as np
from gnuradio import gr, digital, analog, blocks, filter, channels
from gnuradio.filter import firdes

out, seed, per_cell, snrs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
classes = json.loads(sys.argv[5])
N = 1024
rng = np.random.default_rng(seed)
CONST = {"bpsk": digital.constellation_bpsk, "qpsk": digital.constellation_qpsk,
         "8psk": digital.constellation_8psk, "qam16": digital.constellation_16qam,
         "qam64": lambda: digital.qam.qam_constellation(64),
         "pam4": lambda: digital.constellation_calcdist([-3, -1, 1, 3], [0, 1, 2, 3], 4, 1).base()}

def audio_src(tb, fs, bw):
    noise = analog.noise_source_f(analog.GR_GAUSSIAN, 1.0, int(rng.integers(1, 1 << 30)))
    lp = filter.fir_filter_fff(1, firdes.low_pass(1.0, fs, bw, bw / 2))
    add = blocks.add_ff()
    tb.connect(noise, lp, (add, 0))
    for i in range(2):
        tone = analog.sig_source_f(fs, analog.GR_SIN_WAVE, float(rng.uniform(0.1, 0.9) * bw),
                                   float(rng.uniform(0.5, 2.0)), 0.0)
        tb.connect(tone, (add, i + 1))
    peak = blocks.multiply_const_ff(0.35)
    tb.connect(add, peak)
    return peak

def stream(name, n):
    tb = gr.top_block()
    fs = 1e6
    if name in CONST:
        sps = int(rng.integers(2, 9))
        mod = digital.generic_mod(CONST[name](), differential=False, samples_per_symbol=sps, pre_diff_code=False,
                                  excess_bw=float(rng.uniform(0.2, 0.5)))
        src = blocks.vector_source_b(rng.integers(0, 256, n // sps + 4096).tolist(), False)
        tb.connect(src, mod)
    elif name == "gfsk":
        sps = int(rng.integers(2, 9))
        h = float(rng.uniform(0.3, 0.8))
        mod = digital.gfsk_mod(samples_per_symbol=sps, sensitivity=np.pi * h / sps, bt=float(rng.uniform(0.3, 0.5)))
        src = blocks.vector_source_b(rng.integers(0, 256, n // (8 * sps) + 4096).tolist(), False)
        tb.connect(src, mod)
    elif name == "cpfsk":
        sps = int(rng.integers(2, 9))
        h = float(rng.uniform(0.3, 0.8))
        src = blocks.vector_source_f((rng.integers(0, 2, (n + 8192) // sps + 64) * 2.0 - 1).tolist(), False)
        rep = blocks.repeat(4, sps)
        mod = analog.frequency_modulator_fc(np.pi * h / sps)
        tb.connect(src, rep, mod)
    elif name == "wbfm":
        a = audio_src(tb, 200e3, float(rng.uniform(5e3, 15e3)))
        mod = analog.wfm_tx(audio_rate=200000, quad_rate=1000000, max_dev=75e3)
        tb.connect(a, mod)
    elif name == "am-dsb":
        a = audio_src(tb, fs, float(rng.uniform(2e3, 10e3)))
        mu = blocks.multiply_const_ff(float(rng.uniform(0.5, 1.0)))
        dc = blocks.add_const_ff(1.0)
        mod = blocks.float_to_complex(1)
        tb.connect(a, mu, dc, mod)
    elif name == "am-ssb":
        a = audio_src(tb, fs, float(rng.uniform(2e3, 10e3)))
        mod = filter.hilbert_fc(401)
        tb.connect(a, mod)
    else:
        raise SystemExit("no GNU Radio generator for " + name)
    ntaps = int(rng.integers(1, 4))
    taps = [1.0] + [complex(0.4 * rng.uniform(0.2, 1) * np.exp(2j * np.pi * rng.uniform())) for _ in range(ntaps - 1)]
    ch = channels.channel_model(noise_voltage=0.0, frequency_offset=float(rng.uniform(-1e-3, 1e-3)),
                                epsilon=float(1 + rng.uniform(-20e-6, 20e-6)), taps=taps,
                                noise_seed=int(rng.integers(1, 1 << 30)), block_tags=False)
    skip = blocks.skiphead(8, 8192)               # filter and audio start-up transients
    head = blocks.head(8, n)
    sink = blocks.vector_sink_c()
    tb.connect(mod, ch, skip, head, sink)
    tb.run()
    return np.asarray(sink.data(), np.complex64)

frames, labels, snr_of = [], [], []
streams = 6
for c, name in enumerate(classes):
    need = per_cell * len(snrs)
    per_stream = -(-need // streams)
    x = np.concatenate([stream(name, per_stream * N)[: per_stream * N].reshape(-1, N) for _ in range(streams)])[:need]
    if len(x) < need:
        raise SystemExit(f"{name}: GNU Radio gave {len(x)} frames, need {need}")
    x = x[rng.permutation(len(x))]
    s = np.repeat(np.asarray(snrs, np.float64), per_cell)
    p = np.mean(np.abs(x) ** 2, axis=1, keepdims=True)
    x = x / np.sqrt(np.maximum(p, 1e-20))
    pn = 1.0 / 10 ** (s / 10)
    noise = (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)) * np.sqrt(pn / 2)[:, None]
    frames.append((x + noise).astype(np.complex64))
    labels.append(np.full(need, c))
    snr_of.append(s)
np.savez(out, frames=np.concatenate(frames), labels=np.concatenate(labels), snrs=np.concatenate(snr_of),
         version=gr.version())
'''


def gnuradio_version() -> str | None:
    """GNU Radio's version under :data:`SYS_PY`, or None where it is not installed."""
    if not shutil.which(SYS_PY):
        return None
    try:
        r = subprocess.run([SYS_PY, "-c", "from gnuradio import gr, digital, analog, channels; print(gr.version())"],
                           capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def make_crossgen(out_dir, classes, per_cell: int = 64, seed: int = 2024, snrs=SNRS, timeout_s: float = 900) -> Path:
    """Generate the GNU Radio frames and write ``out_dir/crossgen.sigmf-{meta,data}``; returns the meta path.

    Reuses an existing recording made with the same (classes, per_cell, seed, snrs).

    Raises:
        NotAvailable: GNU Radio is not installed for ``/usr/bin/python3``.
        SdrkitError: the GNU Radio script failed (its stderr is in the message).
    """
    from sdrkit.tasks.amc.dataset import write_frames

    out_dir = Path(out_dir)
    meta = out_dir / "crossgen.sigmf-meta"
    key = {"classes": list(classes), "per_cell": per_cell, "seed": seed, "snrs": list(snrs)}
    if meta.exists():
        try:
            g = json.loads(meta.read_text())["global"]
            if g.get("sdrkit:crossgen_key") == key:
                return meta
        except (ValueError, KeyError):
            pass
    ver = gnuradio_version()
    if ver is None:
        raise NotAvailable(f"GNU Radio is not importable by {SYS_PY}: {INSTALL}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as td:
        npz = Path(td) / "frames.npz"
        r = subprocess.run([SYS_PY, "-c", GR_SCRIPT, str(npz), str(seed), str(per_cell), json.dumps(list(snrs)),
                            json.dumps(list(classes))], capture_output=True, text=True, timeout=timeout_s)
        if r.returncode != 0:
            raise SdrkitError(f"the GNU Radio {ver} generator failed (rc {r.returncode}): {r.stderr[-1500:]}")
        d = np.load(npz)
        x, labels, s = d["frames"], d["labels"], d["snrs"]
    write_frames(out_dir / "crossgen", x, labels, s, tuple(classes), x.shape[1],
                 hw=f"GNU Radio {ver} (sdrkit.tasks.amc.crossgen)",
                 extra_global={"split": "crossgen", "generator": f"GNU Radio {ver}", "crossgen_key": key,
                               "note": "validation only: never for training, threshold picking or model selection"})
    return meta
