"""Helpers shared by verb modules: radio options and opening a radio from them."""

from __future__ import annotations



def add_radio_options(p, radio_required: bool = True) -> None:
    """``--radio URI`` plus settings under pyadi-iio's names."""
    p.add_argument("--radio", required=radio_required, metavar="URI",
                   help="radio URI: sim:REC.sigmf-meta[?opts], pluto:ip:192.168.2.1, usrp:type=b200")
    g = p.add_argument_group("radio settings (pyadi-iio names)")
    g.add_argument("--rx-lo", type=float, metavar="HZ", help="RX center frequency, Hz")
    g.add_argument("--sample-rate", type=float, metavar="SPS", help="sample rate, samples/s")
    g.add_argument("--rx-rf-bandwidth", type=float, metavar="HZ", help="RX RF bandwidth, Hz")
    g.add_argument("--gain", type=float, metavar="DB", help="RX gain, dB (manual gain mode)")
    g.add_argument("--gain-mode", choices=["manual", "slow_attack", "fast_attack", "hybrid"], help="RX gain control mode")
    g.add_argument("--buffer-size", type=int, metavar="N", help="samples per rx() block")


def open_radio_from_args(args):
    """Open ``args.radio`` and apply the settings given on the command line."""
    from sdrkit.radio import open_radio

    radio = open_radio(args.radio)
    changes = {}
    for arg, name in (("rx_lo", "rx_lo"), ("sample_rate", "sample_rate"), ("rx_rf_bandwidth", "rx_rf_bandwidth"),
                      ("gain", "rx_hardwaregain"), ("gain_mode", "gain_control_mode"), ("buffer_size", "rx_buffer_size")):
        v = getattr(args, arg, None)
        if v is not None:
            changes[name] = v
    if changes:
        try:
            radio.configure(**changes)
        except BaseException:
            radio.close()
            raise
    return radio
