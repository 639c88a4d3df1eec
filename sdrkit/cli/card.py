"""``sdrkit card upgrade CARD``: model cards: rewrite a card_version 1 card as card_version 2."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("card", help="model cards: upgrade a card_version 1 card to version 2",
                       description=__doc__.split(":", 1)[1])
    cs = p.add_subparsers(dest="card_cmd", metavar="CMD")
    u = cs.add_parser("upgrade", help="card_version 1 -> 2: output kind/shape and input.channels read from the "
                                      "ONNX graphs; every other field kept; the command recorded in the card",
                      description="Rewrite a card_version 1 model card as card_version 2. output.kind/shape and "
                                  "input.channels are read from the card's ONNX graphs, the architecture from the "
                                  "card (extra.architecture) or --architecture; every other field is kept and the "
                                  "command is appended to training.card_upgrades. The ONNX files are only read.")
    u.add_argument("card", help="the card.json (or its folder, or a bundled model's name)")
    u.add_argument("--out", default=None,
                   help="write the new card here, in the card's own folder (default: over CARD)")
    u.add_argument("--architecture", default=None, metavar="JSON",
                   help="for a card that does not name its network: '{\"name\": ..., \"kwargs\": {...}}' (a "
                        "registered network; checked against the card's .pt weights when it lists them)")
    u.set_defaults(func=run_upgrade)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_upgrade(args) -> int:
    import json

    from sdrkit.errors import ConfigError
    from sdrkit.runtime.card_upgrade import upgrade_card

    arch = None
    if args.architecture is not None:
        try:
            arch = json.loads(args.architecture)
        except ValueError as exc:
            raise ConfigError(f"--architecture {args.architecture!r} is not JSON ({exc}); give "
                              f"'{{\"name\": \"NET\", \"kwargs\": {{...}}}}'") from None
    path, record = upgrade_card(args.card, out=args.out, command=args.command_line, architecture=arch)
    print(f"wrote {path} (card_version 2)")
    for field, source in record["sources"].items():
        print(f"  {field}: {source}")
    for line in record.get("moved", []) + record.get("dropped", []):
        print(f"  {line}")
    return 0
