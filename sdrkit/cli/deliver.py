"""``sdrkit deliver --model CARD --radio URI --mode analog|digital [--expand 2]``: send a model over the air.

The card's weights become channel symbols (analog: AirNet's per-tensor scaled pairs, or the
Shannon-Kotelnikov spiral with ``--expand 2``; digital: 8-bit quantized, entropy-coded, QPSK
bursts with CRC), framed with a preamble, sent with ``tx()``, received with ``rx()``, equalized
and rebuilt; the received card and ONNX graphs are written to ``--out``, ready for ``sdrkit
classify --model OUT/card.json``. The delivery is done by the task that offers it: the card's
own task when it does, else the registered task that delivers any card.
"""

from __future__ import annotations

#: sample rate a delivery sets on a real radio when none is given (the burst modem's design rate; a
#: Pluto left at its power-on 30.72 MS/s would be asked for more than its USB link carries)
DEFAULT_RATE = 1e6


def register(sub) -> None:
    from sdrkit.cli._common import add_radio_options

    p = sub.add_parser("deliver", help="send a model's weights through a radio (analog AirNet or digital)",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--model", required=True, metavar="CARD", help="model card to send (path or bundled name)")
    p.add_argument("--mode", choices=["analog", "digital"], default="analog",
                   help="analog (AirNet) or digital (8-bit + zlib, QPSK bursts) (default analog)")
    p.add_argument("--expand", type=int, choices=[1, 2], default=1,
                   help="analog bandwidth expansion: 1 = two weights per symbol, 2 = SK spiral on the card's "
                        "selected tensors (default 1)")
    p.add_argument("--out", help="folder for the received card (default out/deliver/<card name>-<mode>)")
    p.add_argument("--seed", type=int, default=0, help="recorded with the delivery (default 0)")
    add_radio_options(p)
    p.set_defaults(func=run)


def delivering_task(card_task: str):
    """The task that delivers a card of ``card_task``: that task when it offers ``deliver``, else the one
    registered task that does.

    Raises:
        ConfigError: no registered task delivers models.
    """
    from sdrkit.errors import ConfigError
    from sdrkit.tasks import TASKS, get_task

    if card_task in TASKS.names() and callable(getattr(get_task(card_task), "deliver", None)):
        return get_task(card_task)
    for name in TASKS.names():
        task = get_task(name)
        if callable(getattr(task, "deliver", None)):
            return task
    raise ConfigError("no registered task offers model delivery (a task with a deliver() method)")


def run(args) -> int:
    from sdrkit.cli._common import open_radio_from_args, radio_settings, resolve_bundled, split_settings
    from sdrkit.errors import ConfigError
    from sdrkit.runtime import load_card

    if args.expand == 2 and args.mode != "analog":
        raise ConfigError("--expand 2 is the analog SK spiral; drop it with --mode digital")
    card = load_card(resolve_bundled("models", args.model))
    task = delivering_task(card.task)
    uri, uri_settings = split_settings(args.radio)
    with open_radio_from_args(args) as radio:
        given = {**uri_settings, **radio_settings(args)}
        if not uri.startswith("sim:"):
            # a delivery is a loopback: this radio's TX must reach its own RX, so both LOs are the same
            fix = {} if "sample_rate" in given else {"sample_rate": DEFAULT_RATE}
            if getattr(radio, "tx_lo", None) != getattr(radio, "rx_lo", None):
                fix["tx_lo"] = radio.rx_lo
            if fix:
                radio.configure(**fix)
                print("set for the loopback: " + ", ".join(f"{k}={v / 1e6:g} MHz" if "lo" in k else
                                                           f"{k}={v / 1e6:g} MS/s" for k, v in fix.items())
                      + " (--sample-rate / --rx-lo to change)")
        rep = task.deliver(card.path, args.radio, mode=args.mode, expand=args.expand, out=args.out, seed=args.seed,
                           radio=radio)
    snr = rep.get("symbol_snr_db")
    print(f"delivered {rep['weights']} weights of {card.name} ({args.mode}"
          f"{', SK on ' + str(len(rep['expanded'])) + ' tensors' if rep['expanded'] else ''}): "
          f"{rep['channel_symbols']} payload symbols in {rep['bursts']} bursts after a control burst, "
          f"{rep['air_seconds'] * 1e3:.1f} ms of air time at {rep['sample_rate'] / 1e6:g} MS/s; link SNR {rep['link_snr_db']:.1f} dB"
          + (f", weight symbols at {snr:.1f} dB" if snr is not None else ""))
    print(f"wrote {rep['received_card']}; next: sdrkit classify --model {rep['received_card']} --radio URI")
    return 0
