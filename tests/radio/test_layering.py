"""Settings and profiles are data below the radios: imports go one way (radio -> profiles)."""

import ast
from pathlib import Path

import sdrkit.profiles
import sdrkit.radio
import sdrkit.radio.base


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-local and TYPE_CHECKING ones included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_profiles_import_nothing_from_the_radios():
    mods = _imported_modules(Path(sdrkit.profiles.__file__))
    assert not [m for m in mods if m == "sdrkit.radio" or m.startswith("sdrkit.radio.")], mods
    assert "sdrkit.profiles" in _imported_modules(Path(sdrkit.radio.base.__file__))


def test_one_radio_config_class():
    assert sdrkit.radio.RadioConfig is sdrkit.radio.base.RadioConfig is sdrkit.profiles.RadioConfig
    assert sdrkit.radio.GAIN_MODES is sdrkit.profiles.GAIN_MODES
