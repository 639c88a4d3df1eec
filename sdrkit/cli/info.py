"""``sdrkit info REC``: what is in a SigMF recording."""

from __future__ import annotations

import collections
import json


def register(sub) -> None:
    p = sub.add_parser("info", help="summarize a SigMF recording",
                       description="Rate, frequency, duration, datatype, provenance (recorder, description, licence), "
                                   "checksum verification and annotation counts by label.")
    p.add_argument("recording", help="path to a .sigmf-meta (or .sigmf-data, or base path)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def summarize(path) -> dict:
    """The facts ``sdrkit info`` prints, as a dict."""
    from sdrkit.capture import open_recording

    with open_recording(path, verify=False) as rec:      # verified below, so a mismatch is reported, not raised
        g = rec.global_info
        ok = rec.verify()
        counts = collections.Counter(a.get("core:label", "(unlabelled)") for a in rec.annotations)
        lost = sum(int(a.get("sdrkit:lost_samples", 0)) for a in rec.annotations if a.get("core:label") == "gap")
        return {
            "recording": str(rec.meta_path),
            "datatype": rec.datatype,
            "sample_rate": rec.sample_rate,
            "center_frequency": rec.center_frequency,
            "num_samples": rec.num_samples,
            "duration_s": rec.duration,
            "datetime": rec.captures[0].get("core:datetime"),
            "hw": g.get("core:hw"),
            "complete": not rec.interrupted,
            "lost_samples": lost,
            "annotations": dict(sorted(counts.items())),
            "command": g.get("sdrkit:command"),
            "recorder": g.get("core:recorder"),
            "author": g.get("core:author"),
            "description": g.get("core:description"),
            "license": g.get("core:license"),
            "sha512": g.get("core:sha512"),
            "checksum": {True: "verified", False: "MISMATCH", None: "none"}[ok],
        }


def run(args) -> int:
    s = summarize(args.recording)
    if args.json:
        print(json.dumps(s, indent=2))
        return 1 if s["checksum"] == "MISMATCH" else 0
    print(f"{s['recording']}")
    print(f"  datatype      {s['datatype']}")
    print(f"  sample rate   {s['sample_rate']:g} S/s")
    print(f"  frequency     {s['center_frequency'] / 1e6:.6f} MHz")
    print(f"  samples       {s['num_samples']} ({s['duration_s']:.3f} s)")
    if s["datetime"]:
        print(f"  recorded      {s['datetime']}")
    if s["hw"]:
        print(f"  hardware      {s['hw']}")
    print(f"  complete      {'yes' if s['complete'] else 'NO (writer was interrupted; data up to the last whole sample)'}")
    if s["lost_samples"]:
        print(f"  lost samples  {s['lost_samples']} (see 'gap' annotations)")
    if s["recorder"]:
        print(f"  recorder      {s['recorder']}")
    if s["author"]:
        print(f"  author        {s['author']}")
    if s["description"]:
        print(f"  description   {s['description']}")
    if s["license"]:
        print(f"  licence       {s['license']}")
    if s["command"]:
        print(f"  made by       {s['command']}")
    print("  checksum      " + {"verified": "core:sha512 verified",
                                "MISMATCH": "MISMATCH: the data is not what core:sha512 says (changed or corrupted)",
                                "none": "none (the recording carries no core:sha512)"}[s["checksum"]])
    print(f"  annotations   {sum(s['annotations'].values())}")
    for label, n in s["annotations"].items():
        print(f"    {label:14s} {n}")
    if s["checksum"] == "MISMATCH":
        from sdrkit.errors import CaptureError

        raise CaptureError(f"{s['recording']}: checksum mismatch (core:sha512); restore the data file or re-record")
    return 0
