"""One resolver for the files sdrkit bundles: firmware profiles, rigs, models and captures.

A name is looked up in this order, and the first hit wins:

1. the path as given, relative to the working directory (your own files come first);
2. the bundled folder (``firmware_profiles/``, ``rigs/``, ``models/``, ``captures/``) of the
   source tree sdrkit runs from (a clone or an editable install);
3. the same folders copied into the package (``sdrkit/_bundled/``) by a non-editable install
   (see ``setup.py``).

Within a bundled folder a short name works too: ``resolve("rigs", "sim-loopback")`` finds
``rigs/sim-loopback.yaml``, ``resolve("models", "amc")`` finds ``models/amc/card.json`` and
``resolve("captures", "demo_mixed")`` finds ``captures/demo_mixed.sigmf-meta``.
"""

from __future__ import annotations

from pathlib import Path

from sdrkit.errors import ConfigError

#: kind -> (folder name, suffixes tried for short names)
KINDS = {
    "profiles": ("firmware_profiles", (".yaml",)),
    "rigs": ("rigs", (".yaml",)),
    "models": ("models", ("/card.json", ".json")),
    "captures": ("captures", (".sigmf-meta",)),
}

#: what ``sdrkit demo`` replays and classifies with by default (bundled names); also the live
#: benchmarks' model. ``amc-int8`` is ``models/amc`` quantized by ``sdrkit compress amc``: the
#: same accuracy within 0.6 point and ~2.4x less CPU per frame, so 2 cores analyze ~2.4x more of
#: a 20 MS/s stream (docs/amc.md, "int8 for the live path"); ``--model amc`` is the fp32 reference
DEMO = {"capture": "demo_mixed", "model": "amc-int8"}

_PACKAGE = Path(__file__).resolve().parent


def bundled_roots() -> list[Path]:
    """Folders that may hold the bundled data, in search order."""
    roots = []
    tree = _PACKAGE.parent
    if (tree / "pyproject.toml").exists() and (tree / "sdrkit").is_dir():
        roots.append(tree)
    if (_PACKAGE / "_bundled").is_dir():
        roots.append(_PACKAGE / "_bundled")
    return roots


def bundled_dir(kind: str) -> Path:
    """The bundled folder of ``kind`` (the first root that has it).

    Raises:
        ConfigError: unknown kind, or no installed copy of that folder.
    """
    folder = _folder(kind)
    for root in bundled_roots():
        if (root / folder).is_dir():
            return root / folder
    raise ConfigError(f"no bundled {folder}/ folder found (looked in {[str(r) for r in bundled_roots()]}); "
                      f"reinstall sdrkit (pip install .) or run from a clone")


def resolve(kind: str, name, must_exist: bool = True) -> Path:
    """Find a bundled or local file of ``kind`` by path or short name (see the module docstring).

    Args:
        kind: ``"profiles"``, ``"rigs"``, ``"models"`` or ``"captures"``.
        name: a path (absolute, or relative to the working directory), a path inside the bundled
            folder (``models/amc/card.json``), or a short name (``amc``).
        must_exist: raise when nothing is found (otherwise return ``Path(name)``).

    Raises:
        ConfigError: nothing found; the message lists where it looked and what is bundled.
    """
    folder, suffixes = KINDS[kind] if kind in KINDS else (_folder(kind), ())
    p = Path(name)
    if p.exists():
        return p
    rel = p.relative_to(folder) if p.parts[:1] == (folder,) else p
    tried = [str(p)]
    for root in ([] if p.is_absolute() else bundled_roots()):    # an absolute path means that file only
        base = root / folder
        for cand in [base / rel] + [Path(str(base / rel) + s) for s in suffixes]:
            tried.append(str(cand))
            if cand.is_file():
                return cand
    if not must_exist:
        return p
    raise ConfigError(f"{kind[:-1]} {str(name)!r} not found (looked at {', '.join(tried[:4])}"
                      f"{', ...' if len(tried) > 4 else ''}); bundled: {', '.join(names(kind)) or 'none'}")


def names(kind: str) -> list[str]:
    """Short names of the bundled files of ``kind``."""
    folder, suffixes = KINDS[kind]
    try:
        base = bundled_dir(kind)
    except ConfigError:
        return []
    if kind == "models":
        return sorted(p.parent.name for p in base.glob("*/card.json"))
    return sorted(p.name[: -len(suffixes[0])] for p in base.glob(f"*{suffixes[0]}"))


def _folder(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"unknown resource kind {kind!r}; known: {', '.join(KINDS)}")
    return KINDS[kind][0]
