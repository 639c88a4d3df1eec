"""The crash rule itself: what counts as a crash or a hang, and that the input is saved."""

import time

from sdrkit.errors import CaptureError
from tests.fuzz import _core
from tests.fuzz._core import Raw, dumps, pack, run_one, unpack


class _Target:
    name = "selftest"

    def __init__(self, action):
        self.action = action

    def execute(self, data):
        self.action(data)


def _raise(exc):
    def f(data):
        raise exc
    return f


def test_an_sdrkit_error_is_a_refusal_not_a_crash():
    assert run_one(_Target(_raise(CaptureError("bad"))), b"x").kind == "refused"


def test_any_other_exception_is_a_crash_and_its_input_is_saved(tmp_path, monkeypatch):
    monkeypatch.setenv("SDRKIT_FUZZ_CRASHES", str(tmp_path))
    res = run_one(_Target(_raise(KeyError("k"))), b"the input")
    assert res.kind == "crash" and res.signature.startswith("KeyError at ")
    assert res.saved.parent == tmp_path / "selftest" and res.saved.read_bytes() == b"the input"
    assert "KeyError" in res.saved.with_suffix(".txt").read_text()


def test_more_than_two_cpu_seconds_is_a_hang(tmp_path, monkeypatch):
    monkeypatch.setenv("SDRKIT_FUZZ_CRASHES", str(tmp_path))
    monkeypatch.setattr(_core, "HANG_S", 0.3)            # the rule, at a CI-sized limit

    def spin(data):
        while True:
            pass

    t0 = time.monotonic()
    res = run_one(_Target(spin), b"busy")
    assert res.kind == "hang" and "s of CPU" in res.signature and res.saved.exists()
    assert time.monotonic() - t0 < _core.HANG_WALL_S + 2


def test_waiting_without_working_is_a_hang_after_the_wall_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("SDRKIT_FUZZ_CRASHES", str(tmp_path))
    monkeypatch.setattr(_core, "HANG_WALL_S", 1.0)
    t0 = time.monotonic()
    res = run_one(_Target(lambda data: time.sleep(10)), b"stuck")
    assert res.kind == "hang" and time.monotonic() - t0 < 3


def test_a_starved_input_that_finishes_is_not_a_hang(monkeypatch):
    # wall time past HANG_S with little CPU (a loaded machine): the alarm looks again, no hang
    monkeypatch.setattr(_core, "HANG_S", 0.2)
    res = run_one(_Target(lambda data: time.sleep(0.6)), b"starved")
    assert res.kind == "ok"


def test_containers_and_raw_json_round_trip():
    assert unpack(pack([b"a", b"", b"ccc"])) == [b"a", b"", b"ccc"]
    assert unpack(b"\x05\x01") == []                   # forgiving of arbitrary bytes
    assert dumps({"a": Raw("NaN"), "b": [Raw("9" * 5000)]}) == b'{"a": NaN, "b": [' + b"9" * 5000 + b"]}"
