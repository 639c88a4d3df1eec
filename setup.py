"""Build hook: a non-editable install (wheel) carries the bundled data with the package.

``firmware_profiles/``, ``rigs/``, ``models/`` and ``captures/`` live at the top of the source
tree; a wheel gets a copy of them under ``sdrkit/_bundled/``, where
:mod:`sdrkit.resources` finds them. Editable installs read them from the tree instead.
Everything else is in ``pyproject.toml``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("firmware_profiles", "rigs", "models", "captures")
SKIP = ("*.tmp", "*.pyc", "__pycache__", "train_log.jsonl")


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = Path(__file__).resolve().parent
        dest = Path(self.build_lib) / "sdrkit" / "_bundled"
        for name in BUNDLED:
            if (root / name).is_dir():
                shutil.copytree(root / name, dest / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*SKIP))


setup(cmdclass={"build_py": BuildPyWithData})
