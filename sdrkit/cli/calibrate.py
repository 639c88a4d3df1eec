"""``sdrkit calibrate --task TASK``: a calibration session for a new RF front end.

Records (``--rig RIG --front-end NAME``) or reads (``--capture REC``) k labelled shots per
class, embeds them with the task's frozen encoder (ONNX) and writes a versioned calibration
file (prototypes, front end, radio, date, shots, encoder hash) for
``sdrkit classify --task TASK --calibration FILE --radio URI``.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="few-shot calibration session: labelled shots -> prototypes file",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--task", default="beam", help="task whose encoder is calibrated (default beam)")
    p.add_argument("--model", help="encoder model card (default models/<task>/card.json)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--rig", help="rig file or name (rigs/<name>.yaml): record a beam sweep from it")
    src.add_argument("--capture", help="labelled SigMF recording (core:label per frame)")
    p.add_argument("--front-end", help="front end name (rig: selects the receiver; capture: overrides the file's)")
    p.add_argument("--shots", type=int, default=8, help="labelled shots per class (default 8)")
    p.add_argument("--beams", type=int, help="rig sweeps: codebook size (a new class set needs no retraining)")
    p.add_argument("--out", help="calibration file (default calibrations/<task>-<front end>-<UTC date>.json)")
    p.set_defaults(func=run)


def run(args) -> int:
    from sdrkit.errors import ConfigError
    from sdrkit.tasks.beam.calibrate import calibrate_capture

    model = args.model or f"models/{args.task}/card.json"
    radio = None
    capture = args.capture
    if args.rig:
        if args.task != "beam":
            raise ConfigError(f"--rig sweeps exist for the beam task only; for {args.task!r} pass --capture")
        if not args.front_end:
            raise ConfigError("--rig needs --front-end NAME (the receiver to calibrate)")
        capture, radio = record_rig_sweep(args.rig, args.front_end, args.shots, args.beams)
        print(f"recorded beam sweep -> {capture}")
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or f"calibrations/{args.task}-{args.front_end or 'capture'}-{stamp}.json"
    cal, dt = calibrate_capture(model, capture, shots=args.shots, front_end=args.front_end, out=out, radio=radio)
    print(f"calibrated {len(cal.classes)} classes x {cal.shots} shots on front end {cal.front_end!r} "
          f"in {dt * 1e3:.0f} ms -> {out}")
    print(f"next: sdrkit classify --task {args.task} --calibration {out} --radio URI")
    return 0


def record_rig_sweep(rig_path, front_end: str, shots: int, beams: int | None = None):
    """Open the rig, find the receiver with ``front_end``, record a TX beam sweep (simulated radios).

    Returns (capture .sigmf-meta path, radio dict).

    Raises:
        ConfigError: no such receiver in the rig, or a rig with real radios (needs a TX array driver).
    """
    import numpy as np

    from sdrkit.errors import ConfigError
    from sdrkit.rigs import load_rig
    from sdrkit.tasks.beam.rig import record_beam_sweep
    from sdrkit.tasks.beam.sim import ArraySpec, get_front_end

    rig = load_rig(rig_path)
    rx = [r for r in rig.radios.values() if r.front_end == front_end and r.role != "tx"]
    if not rx:
        raise ConfigError(f"rig {rig.name!r} has no receiver with front_end {front_end!r} "
                          f"(has: {sorted(r.front_end for r in rig.radios.values() if r.role != 'tx')})")
    tx = [r for r in rig.radios.values() if r.role == "tx"]
    if not rx[0].uri.startswith("sim:") or (tx and not tx[0].uri.startswith("sim:")):
        raise ConfigError(f"rig {rig.name!r}: beam sweeps on real radios need a TX array driver that sdrkit does "
                          f"not have yet; record a labelled sweep and pass --capture")
    elements = int((tx[0].extra or {}).get("elements", 16)) if tx else 16
    nb = beams or int((tx[0].extra or {}).get("beams", 24)) if tx else (beams or 24)
    spec = ArraySpec(elements=elements, beams=nb)
    seed = int(_dt.datetime.now().timestamp())
    path = Path("out/calibrate") / f"{rig.name}-{front_end}-sweep"
    meta = record_beam_sweep(path, spec, get_front_end(front_end, elements), shots, np.random.default_rng(seed),
                             radio_uri=rx[0].uri)
    return meta, {"uri": rx[0].uri, "serial": "", "rig": rig.name, "tx": tx[0].uri if tx else ""}
