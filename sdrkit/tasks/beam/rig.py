"""Beam rigs: a TX array stepping through its codebook while an RX records; the beam
schedule is written as SigMF annotations (label = beam index, ``sdrkit:front_end``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sdrkit.tasks.beam import CENTER_FREQUENCY, SAMPLE_RATE
from sdrkit.tasks.beam.sim import ArraySpec, BeamFrontEnd, generate


def record_beam_sweep(path, spec: ArraySpec, front_end: BeamFrontEnd, per_beam: int, rng: np.random.Generator,
                      command: str = "", radio_uri: str = "", beams=None, scene=None, interleave: bool = False) -> Path:
    """Simulate the TX sweeping ``beams`` (default all) ``per_beam`` frames each; write SigMF.

    Each frame of ``spec.frame_len`` samples is one annotation (label ``beamNN``,
    ``sdrkit:beam`` = index, ``sdrkit:front_end`` = name, ``sdrkit:snr_db`` = the frame's SNR
    rounded to 1 dB, ``sdrkit:channel`` = the scene's family). ``scene``: a clustered 3GPP channel
    (:class:`~sdrkit.tasks.beam.channels.Scene`, recorded in the global ``sdrkit:scene``);
    ``interleave``: the TX cycles through the codebook ``per_beam`` times instead of dwelling
    on each beam. Returns the ``.sigmf-meta`` path.
    """
    from sdrkit.capture import write_recording

    beams = np.arange(spec.beams) if beams is None else np.asarray(beams)
    sched = np.tile(beams, per_beam) if interleave else np.repeat(beams, per_beam)   # the TX's beam schedule
    info: dict = {}
    x = generate(spec, front_end, sched, rng, scene=scene, info=info)
    L = spec.frame_len
    fam = scene.family if scene is not None else "sdrkit"
    ann = [{"start": i * L, "count": L, "label": f"beam{int(b):02d}", "beam": int(b), "front_end": front_end.name,
            "snr_db": float(np.round(info["snr_db"][i])), "channel": fam}
           for i, b in enumerate(sched)]
    return write_recording(Path(path), x.reshape(-1), sample_rate=SAMPLE_RATE, center_frequency=CENTER_FREQUENCY,
                           annotations=ann, overwrite=True,
                           description=f"beam sweep: {len(beams)} beams x {per_beam} frames, front end {front_end.name}",
                           extra_global={"front_end": front_end.name, "radio_uri": radio_uri or "sim:beam",
                                         "frame_len": L, "command": command,
                                         "scene": scene.to_dict() if scene is not None else {"family": "sdrkit"}})


def record_rig_sweep(rig_path, front_end: str, shots: int, beams: int | None = None, seed: int = 0,
                     out_dir="out/calibrate"):
    """Open the rig, find the receiver with ``front_end``, record a TX beam sweep (simulated radios).

    Args:
        seed: seeds the sweep's channel draws (recorded in the recording and the calibration).

    Returns:
        (capture .sigmf-meta path, radio dict).

    Raises:
        ConfigError: no such receiver in the rig, or a rig with real radios (needs a TX array driver).
    """
    from sdrkit.errors import ConfigError
    from sdrkit.rigs import load_rig
    from sdrkit.tasks.beam.sim import get_front_end

    rig = load_rig(rig_path)
    rx = [r for r in rig.radios.values() if r.front_end == front_end and r.role != "tx"]
    if not rx:
        raise ConfigError(f"rig {rig.name!r} has no receiver with front_end {front_end!r} "
                          f"(has: {sorted(r.front_end for r in rig.radios.values() if r.role != 'tx')})")
    tx = [r for r in rig.radios.values() if r.role == "tx"]
    if not rx[0].uri.startswith("sim:") or (tx and not tx[0].uri.startswith("sim:")):
        raise ConfigError(f"rig {rig.name!r}: beam sweeps on real radios need a TX array driver that sdrkit does "
                          f"not have yet; record a labelled sweep and pass --capture")
    extra = (tx[0].extra or {}) if tx else {}
    spec = ArraySpec(elements=int(extra.get("elements", 16)), beams=int(beams or extra.get("beams", 24)))
    path = Path(out_dir) / f"{rig.name}-{front_end}-{spec.beams}beams-{shots}shots-seed{seed}"
    meta = record_beam_sweep(path, spec, get_front_end(front_end, spec.elements), shots, np.random.default_rng(seed),
                             radio_uri=rx[0].uri, command=f"sweep seed {seed}")
    return meta, {"uri": rx[0].uri, "serial": "", "rig": rig.name, "tx": tx[0].uri if tx else "", "seed": seed}
