"""Helpers shared by verb modules: one radio-settings argument group, opening a radio from it,
replay defaults for the live verbs, and "did you mean" suggestions."""

from __future__ import annotations

import difflib
import sys
import urllib.parse

# (argparse dest, pyadi-iio property name, flags (first: the documented one), type, metavar, help)
RADIO_SETTINGS = (
    ("rx_lo", "rx_lo", ("--rx-lo",), float, "HZ", "RX center frequency, Hz"),
    ("sample_rate", "sample_rate", ("--sample-rate",), float, "SPS", "sample rate, samples/s"),
    ("rx_rf_bandwidth", "rx_rf_bandwidth", ("--rx-rf-bandwidth", "--bandwidth"), float, "HZ", "RX RF bandwidth, Hz"),
    ("gain", "rx_hardwaregain", ("--gain", "--rx-hardwaregain"), float, "DB", "RX gain, dB (manual gain mode)"),
    ("gain_mode", "gain_control_mode", ("--gain-mode", "--gain-control-mode"), str, None, "RX gain control mode"),
    ("buffer_size", "rx_buffer_size", ("--buffer-size", "--rx-buffer-size"), int, "N", "samples per rx() block"),
)
GAIN_MODES = ("manual", "slow_attack", "fast_attack", "hybrid")
SETTING_NAMES = tuple(name for _, name, *_ in RADIO_SETTINGS)


def add_radio_options(p, radio_required: bool = True) -> None:
    """``--radio URI`` plus one group of settings under pyadi-iio's names, the same for every verb
    that opens a radio (``classify``, ``capture``, ``replay``, ``stream``)."""
    p.add_argument("--radio", required=radio_required, metavar="URI",
                   help="radio URI: sim:REC.sigmf-meta[?opts], pluto:ip:192.168.2.1, usrp:type=b200")
    g = p.add_argument_group("radio settings (pyadi-iio names; also accepted as URI options, ?sample_rate=1e6)")
    for dest, _name, flags, typ, metavar, text in RADIO_SETTINGS:
        kw = {"choices": GAIN_MODES} if dest == "gain_mode" else {"metavar": metavar}
        g.add_argument(*flags, dest=dest, type=typ, help=text, **kw)


def radio_settings(args) -> dict:
    """The radio settings given on the command line, by pyadi-iio name."""
    return {name: getattr(args, dest) for dest, name, *_ in RADIO_SETTINGS if getattr(args, dest, None) is not None}


def split_settings(uri: str) -> tuple[str, dict]:
    """``pluto:ip:HOST?sample_rate=2e6`` -> (``pluto:ip:HOST``, {"sample_rate": 2e6}).

    Radio settings written as URI options work for every scheme: ``sim:`` reads them itself;
    for the others they are taken out of the URI and applied with ``configure`` after opening.
    """
    scheme, _, rest = uri.partition(":")
    base, sep, query = rest.partition("?")
    if scheme == "sim" or not sep:
        return uri, {}
    settings, keep = {}, []
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if k in SETTING_NAMES:
            typ = next(t for _, name, _, t, *_ in RADIO_SETTINGS if name == k)
            try:
                settings[k] = typ(float(v)) if typ is int else typ(v)
            except ValueError:
                from sdrkit.errors import ConfigError

                raise ConfigError(f"{scheme}: option {k}={v!r} is not a number") from None
        else:
            keep.append(f"{k}={v}")
    return f"{scheme}:{base}" + (f"?{'&'.join(keep)}" if keep else ""), settings


def check_sim_options(uri: str) -> None:
    """Refuse a ``sim:`` URI option that does not exist, with a "did you mean" (``?realtim=1``).

    Raises:
        ConfigError: naming the option, the closest known one and the list.
    """
    if not uri.startswith("sim:"):
        return
    from sdrkit.errors import ConfigError
    from sdrkit.radio.sim import SimRadio

    known = sorted(SimRadio._OPTIONS | set(SimRadio._SETTINGS) | set(SimRadio._ALIASES))
    _, _, query = uri.partition("?")
    for k, _v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if k not in known:
            hint = did_you_mean(k, known)
            raise ConfigError(f"unknown sim: option {k!r}{hint or ''}; known: {', '.join(known)}")


def with_option(uri: str, key: str, value: str) -> str:
    """``uri`` with ``key=value`` appended to its query (replacing an earlier one)."""
    base, _, query = uri.partition("?")
    parts = [q for q in query.split("&") if q and q.partition("=")[0] != key]
    return f"{base}?{'&'.join(parts + [f'{key}={value}'])}"


def uri_option(uri: str, key: str):
    """The value of ``key`` in ``uri``'s query, or None."""
    _, _, query = uri.partition("?")
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if k == key:
            return v
    return None


def replay_defaults(uri: str, loop: bool = False, fast: bool = False, realtime: bool = False,
                    announce=True) -> str:
    """A live verb's ``sim:`` URI with its defaults filled in; announces the mode on stderr.

    A URI that chooses neither ``loop`` nor ``realtime`` replays as a radio would: one-shot
    (``loop=0``) and paced at the sample rate (``realtime=1``). A URI that sets either one is
    taken as written (``sim:``'s own default for the other: ``loop=1``, ``realtime=0``). The
    verb's flags win over both: ``--loop`` (loop=1), ``--fast`` (realtime=0), ``--realtime``.
    Other schemes come back unchanged (real radios always stream in real time).
    """
    if not uri.startswith("sim:"):
        return uri
    check_sim_options(uri)
    if uri_option(uri, "loop") is None and uri_option(uri, "realtime") is None:
        uri = with_option(uri, "loop", "0")
        uri = with_option(uri, "realtime", "1")
    if loop:
        uri = with_option(uri, "loop", "1")
    if fast or realtime:
        uri = with_option(uri, "realtime", "0" if fast else "1")
    if announce:
        print(replay_mode(uri), file=sys.stderr if announce is True else announce)
    return uri


def _flag(v) -> bool:
    return str(v).lower() in ("1", "true", "yes", "on", "")


def replay_mode(uri: str) -> str:
    """One line saying how a ``sim:`` URI replays, and how to change it."""
    path = uri[4:].partition("?")[0] or "(no recording: noise floor + TX loopback)"
    loop, rt = _flag(uri_option(uri, "loop") or "1"), _flag(uri_option(uri, "realtime") or "0")
    return (f"replaying {path}: {'looping' if loop else 'one-shot'}, "
            f"{'real time (paced at the sample rate)' if rt else 'as fast as possible (not paced)'}; "
            f"change with ?loop={0 if loop else 1}&realtime={int(rt)} / ?loop={int(loop)}&realtime={0 if rt else 1} "
            f"(give both: one alone takes sim's default for the other, loop=1 realtime=0)")


def open_radio_from_args(args, uri: str | None = None):
    """Open ``uri`` (default ``args.radio``) and apply the radio settings from the command line
    (and from the URI's query, for schemes whose driver does not read them)."""
    from sdrkit.radio import open_radio

    uri, changes = split_settings(uri or args.radio)
    check_sim_options(uri)
    radio = open_radio(uri)
    changes.update(radio_settings(args))
    if changes:
        try:
            radio.configure(**changes)
        except BaseException:
            radio.close()
            raise
    return radio


# ---- did you mean ------------------------------------------------------------------------------
def did_you_mean(word: str, candidates, n: int = 3, cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` (or ``'x' or 'y'``) for the candidates close to ``word``, else ``""``."""
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=n, cutoff=cutoff)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"


def resolve_bundled(kind: str, name):
    """:func:`sdrkit.resources.resolve` whose not-found error also says "did you mean" (bundled
    short names and the files next to the path given)."""
    from pathlib import Path

    from sdrkit.errors import ConfigError
    from sdrkit.resources import names, resolve

    try:
        return resolve(kind, name)
    except ConfigError as exc:
        p = Path(str(name))
        cands = list(names(kind))
        try:
            parent = p.parent if str(p.parent) else Path(".")
            cands += [str(parent / c.name) if str(p.parent) != "." else c.name for c in parent.iterdir()]
        except OSError:
            pass
        hint = did_you_mean(str(name), cands)
        if not hint:
            raise
        raise ConfigError(f"{exc}{hint}") from None
