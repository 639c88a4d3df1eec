"""Beam rigs: a TX array stepping through its codebook while an RX records; the beam
schedule is written as SigMF annotations (label = beam index, ``sdrkit:front_end``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sdrkit.tasks.beam.sim import ArraySpec, BeamFrontEnd, generate


def record_beam_sweep(path, spec: ArraySpec, front_end: BeamFrontEnd, per_beam: int, rng: np.random.Generator,
                      command: str = "", radio_uri: str = "", beams=None) -> Path:
    """Simulate the TX sweeping ``beams`` (default all) ``per_beam`` frames each; write SigMF.

    Each frame of ``spec.frame_len`` samples is one annotation (label ``beamNN``,
    ``sdrkit:beam`` = index, ``sdrkit:front_end`` = name). Returns the ``.sigmf-meta`` path.
    """
    from sdrkit.capture import write_recording
    from sdrkit.tasks.beam.task import CENTER_FREQUENCY, SAMPLE_RATE

    beams = np.arange(spec.beams) if beams is None else np.asarray(beams)
    sched = np.repeat(beams, per_beam)              # the TX steps through its beams in order
    x = generate(spec, front_end, sched, rng)
    L = spec.frame_len
    ann = [{"start": i * L, "count": L, "label": f"beam{int(b):02d}", "beam": int(b), "front_end": front_end.name}
           for i, b in enumerate(sched)]
    return write_recording(Path(path), x.reshape(-1), sample_rate=SAMPLE_RATE, center_frequency=CENTER_FREQUENCY,
                           annotations=ann, overwrite=True,
                           description=f"beam sweep: {len(beams)} beams x {per_beam} frames, front end {front_end.name}",
                           extra_global={"front_end": front_end.name, "radio_uri": radio_uri or "sim:beam",
                                         "frame_len": L, "command": command})
