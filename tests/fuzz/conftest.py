"""Crashing inputs found in CI go under the pytest temporary folder unless the caller chose one."""

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _fuzz_crash_dir(tmp_path_factory):
    if "SDRKIT_FUZZ_CRASHES" not in os.environ:
        os.environ["SDRKIT_FUZZ_CRASHES"] = str(tmp_path_factory.mktemp("fuzz-crashes"))
    yield
