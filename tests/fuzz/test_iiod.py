"""Fuzz harness of the virtual Pluto's IIOD server over TCP (:mod:`tests.fuzz._iiod`): CI runs,
and the defects of issue 11 items 2 and 8."""

import pytest

from tests._drivers import require_adi
from tests.fuzz._core import prepare, pack, rss_bytes, run_one
from tests.fuzz._hyp import check, mutated, property_test
from tests.fuzz._iiod import IiodTarget

require_adi()                  # the emulator imports sdrkit.radio.pluto's conversions



@pytest.fixture(scope="module")
def target():
    t = IiodTarget()
    prepare(t)
    yield t
    t.close()


def test_every_seed_is_served(target):
    for s in target.seeds():
        res = run_one(target, s)
        assert res.kind == "ok", res.signature


@property_test(max_examples=150)
def test_server_survives_mutated_sessions(target, data):
    check(target, mutated(target, data), KNOWN)


def test_server_memory_is_flat_after_warm_up(target):
    import random

    rnd = random.Random(0)
    seeds = target.seeds()

    def burst(n):
        for _ in range(n):
            res = run_one(target, target.mutate(rnd.choice(seeds), rnd))
            assert not res.bad or any(k in res.signature for k in KNOWN), res.signature

    burst(200)
    before = rss_bytes()
    burst(300)
    assert rss_bytes() < 1.10 * before, f"RSS grew from {before / 2**20:.1f} to {rss_bytes() / 2**20:.1f} MiB"


CASES = [
    ("empty-writebuf-denies-rx", [b"OPEN iio:device2 4096 00000003\n", b"WRITEBUF iio:device2 0\n"]),
    ("odd-writebuf", [b"OPEN iio:device2 4096 00000003\n", b"WRITEBUF iio:device2 6\n", b"\x01" * 6]),
    ("writebuf-cut-short", [b"OPEN iio:device2 4096 00000003\n", b"WRITEBUF iio:device2 4096\n", b"\x01" * 100]),
    ("readbuf-unopened", [b"READBUF iio:device3 4096\n"]),
    ("readbuf-huge-count", [b"OPEN iio:device3 4 00000003\n", b"READBUF iio:device3 " + b"9" * 5000 + b"\n"]),
    ("open-bad-mask", [b"OPEN iio:device3 4 ffffffff\n", b"OPEN iio:device3 4 0000000g\n"]),
    ("write-claims-more", [b"WRITE iio:device0 INPUT voltage0 hardwaregain 4096\n", b"30"]),
    ("write-huge-count", [b"WRITE iio:device0 INPUT voltage0 hardwaregain " + b"9" * 40 + b"\n"]),
    ("rate-nan", [b"WRITE iio:device0 INPUT voltage0 sampling_frequency 4\n", b"nan\0"]),
    ("oversize-line", [b"READ " + b"A" * 100_000 + b"\n", b"VERSION\n"]),
    ("binary-garbage", [bytes(range(256)) * 4]),
    ("unknown-command", [b"FROB iio:device0\n", b"HELP\n"]),
    ("set-buffers-count-huge", [b"SET iio:device3 BUFFERS_COUNT " + b"9" * 30 + b"\n"]),
    ("max-rate-readbuf", [b"WRITE iio:device0 INPUT voltage0 sampling_frequency 9\n", b"61440000\0",
                          b"OPEN iio:device3 4096 00000003\n", b"READBUF iio:device3 16384\n"]),
]
OPEN: dict[str, str] = {}      # case id -> signature, while the fix is not on main

# what the property tests tolerate: the open defects' signatures (type and file), never a hang
KNOWN = {sig.split(":")[0].split(" (")[0] for sig in OPEN.values() if not sig.startswith("Hang")}


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0], marks=[pytest.mark.xfail(
    strict=True, reason=OPEN[c[0]])] if c[0] in OPEN else []) for c in CASES])
def test_hostile_client_leaves_the_server_serving_others(target, case):
    name, chunks = case
    res = run_one(target, pack(chunks))
    assert res.kind == "ok", f"{res.kind}: {res.signature}"
