"""UHD worker: runs under the system interpreter (/usr/bin/python3) with Debian's python3-uhd.

Debian ships UHD's Python bindings only for the system Python and numpy 1.x; sdrkit runs in its
own environment with numpy 2, where those bindings' array calls are unreliable. So the USRP
backend (:mod:`sdrkit.radio.usrp`) starts this file as a child process and talks to it over a
ZeroMQ PAIR socket on 127.0.0.1. A driver crash ends only the worker; the main process sees a
typed disconnect error.

Messages (multipart; first frame JSON):

    main -> worker  {"cmd": "configure", "config": {...}}      -> {"ok": true, "actual": {...}}
                    {"cmd": "rx", "n": N}                       -> {"start": i, "lost": k, "error": ""} + sc16 bytes
                    {"cmd": "tx", "cyclic": bool} + sc16 bytes  -> {"ok": true, "underflows": u, "late": l}
                    {"cmd": "close"}                            -> {"ok": true}
    worker -> main  first message: {"ok": true, "device": "..."} or {"error": "DeviceNotFound", "message": "..."}

This file imports nothing from sdrkit and only standard modules at the top, so it runs on any
interpreter; ``--selftest`` checks that UHD's Python API (StreamArgs, TuneRequest, RXMetadata)
is usable there.
"""

from __future__ import annotations

import argparse
import json
import sys


def stream_args(uhd, channels):
    """RX/TX stream arguments: sc16 over the wire and to the host (converted once, in sdrkit)."""
    sa = uhd.usrp.StreamArgs("sc16", "sc16")
    sa.channels = list(channels)
    return sa


def tune_request(uhd, freq_hz: float):
    """A tune request for ``freq_hz`` (the DSP takes up any residual LO offset)."""
    return uhd.types.TuneRequest(float(freq_hz))


def selftest() -> dict:
    import numpy as np
    import uhd

    sa = stream_args(uhd, [0])
    tr = tune_request(uhd, 2.4e9)
    md = uhd.types.RXMetadata()
    return {"uhd": getattr(uhd, "__version__", "?"), "numpy": np.__version__, "cpu_format": sa.cpu_format,
            "otw_format": sa.otw_format, "tune_target": tr.target_freq, "md_error": str(md.error_code)}


def serve(endpoint: str, device_args: str) -> int:
    import numpy as np
    import uhd
    import zmq

    sock = zmq.Context.instance().socket(zmq.PAIR)
    sock.connect(endpoint)
    try:
        usrp = uhd.usrp.MultiUSRP(device_args)
    except RuntimeError as exc:
        sock.send_json({"error": "DeviceNotFound", "message": str(exc)})
        return 2
    sock.send_json({"ok": True, "device": usrp.get_pp_string()})
    rx_stream = tx_stream = None
    fs = 1.0
    nch = 1
    next_index = None
    buf = None
    while True:
        parts = sock.recv_multipart()
        msg = json.loads(parts[0])
        cmd = msg.get("cmd")
        if cmd == "configure":
            c = msg["config"]
            fs = float(c["sample_rate"])
            nch = len(c.get("rx_enabled_channels", [0]))
            for ch in c.get("rx_enabled_channels", [0]):
                usrp.set_rx_rate(fs, ch)
                usrp.set_rx_freq(tune_request(uhd, c["rx_lo"]), ch)
                usrp.set_rx_bandwidth(float(c.get("rx_rf_bandwidth") or fs), ch)
                if c.get("gain_control_mode", "manual") == "manual":
                    usrp.set_rx_agc(False, ch)
                    usrp.set_rx_gain(float(c["rx_hardwaregain"]), ch)
                else:
                    usrp.set_rx_agc(True, ch)
            usrp.set_tx_rate(fs, 0)
            usrp.set_tx_freq(tune_request(uhd, c.get("tx_lo") or c["rx_lo"]), 0)
            usrp.set_tx_gain(float(c.get("tx_hardwaregain", 0)), 0)
            if rx_stream is not None:
                rx_stream.issue_stream_cmd(uhd.types.StreamCMD(uhd.types.StreamMode.stop_cont))
            rx_stream = usrp.get_rx_stream(stream_args(uhd, c.get("rx_enabled_channels", [0])))
            cmd_ = uhd.types.StreamCMD(uhd.types.StreamMode.start_cont)
            cmd_.stream_now = True
            rx_stream.issue_stream_cmd(cmd_)
            next_index = None
            sock.send_json({"ok": True, "actual": {"sample_rate": usrp.get_rx_rate(0),
                                                   "rx_lo": usrp.get_rx_freq(0), "rx_gain": usrp.get_rx_gain(0)}})
        elif cmd == "rx":
            n = int(msg["n"])
            if buf is None or buf.shape != (nch, 2 * n):
                buf = np.zeros((nch, 2 * n), np.int16)     # one row per enabled channel
            md = uhd.types.RXMetadata()
            got = rx_stream.recv(buf, md, 1.0)
            err = ""
            lost = 0
            if md.error_code == uhd.types.RXMetadataErrorCode.timeout:
                err = "timeout"
            elif md.error_code == uhd.types.RXMetadataErrorCode.overflow:
                err = "overflow"
            start = int(round(md.time_spec.get_real_secs() * fs)) if md.has_time_spec else None
            if start is not None and next_index is not None and start > next_index:
                lost = start - next_index          # the gap, from timestamps
            if start is not None:
                next_index = start + got
            # channel 0's samples, then channel 1's, ...
            sock.send_multipart([json.dumps({"start": start, "lost": lost, "error": err, "n": int(got),
                                             "channels": nch}).encode(),
                                 buf[:, : 2 * got].tobytes()])
        elif cmd == "tx":
            if tx_stream is None:
                tx_stream = usrp.get_tx_stream(stream_args(uhd, [0]))
            data = np.frombuffer(parts[1], np.int16).reshape(1, -1)
            md = uhd.types.TXMetadata()
            md.end_of_burst = not msg.get("cyclic", False)
            tx_stream.send(data, md)
            sock.send_json({"ok": True})
        elif cmd == "close":
            if rx_stream is not None:
                rx_stream.issue_stream_cmd(uhd.types.StreamCMD(uhd.types.StreamMode.stop_cont))
            sock.send_json({"ok": True})
            return 0
        else:
            sock.send_json({"error": "ConfigError", "message": f"unknown command {cmd!r}"})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connect", help="ZeroMQ endpoint of the sdrkit process (tcp://127.0.0.1:PORT)")
    ap.add_argument("--args", default="", help="UHD device arguments")
    ap.add_argument("--selftest", action="store_true", help="check the UHD Python API and exit")
    a = ap.parse_args()
    if a.selftest:
        print(json.dumps(selftest()))
        return 0
    return serve(a.connect, a.args)


if __name__ == "__main__":
    sys.exit(main())
