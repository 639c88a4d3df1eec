"""Fuzz harness of the SigMF reader (:mod:`tests.fuzz._sigmf`): CI runs, and the defects of issue 11 item 5."""

import json

import pytest

from tests.fuzz._core import prepare, Raw, dumps, pack, run_one, unpack
from tests.fuzz._hyp import check, mutated, property_test
from tests.fuzz._sigmf import SigmfTarget

# open defects (signature prefix -> reason) that the property test tolerates; each has a strict
# xfail case below, so a fix turns it into an XPASS to be removed from here


@pytest.fixture(scope="module")
def target():
    t = SigmfTarget()
    prepare(t)
    return t


def test_every_seed_opens_cleanly(target):
    for s in target.seeds():
        res = run_one(target, s)
        assert res.kind == "ok", res.signature


@property_test(max_examples=30)
def test_mutated_recordings_are_read_or_refused(target, data):
    check(target, mutated(target, data), KNOWN)


def _edit(target, seed: int, edit) -> bytes:
    meta, raw = unpack(target.seeds()[seed])
    d = json.loads(meta)
    edit(d)
    return pack([dumps(d), raw])


def _gap(d):
    return next(a for a in d["annotations"] if a.get("core:label") == "gap")


# (id, seed index, edit of the metadata dict): the root causes of issue 11 item 5, and more
CASES = [
    ("huge-integer", 0, lambda d: d["global"].update({"core:sample_rate": Raw("9" * 5000)})),
    ("deep-nesting", 0, lambda d: d["global"].update({"x": Raw("[" * 100_000 + "]" * 100_000)})),
    ("datatype-list", 0, lambda d: d["global"].update({"core:datatype": ["cf32_le"]})),
    ("datatype-dict", 0, lambda d: d["global"].update({"core:datatype": {}})),
    ("full-scale-str", 1, lambda d: d["global"].update({"sdrkit:full_scale": "2048"})),
    ("full-scale-huge", 1, lambda d: d["global"].update({"sdrkit:full_scale": 10 ** 400})),
    ("full-scale-inf", 1, lambda d: d["global"].update({"sdrkit:full_scale": Raw("1e999")})),
    ("sample-count-nan", 1, lambda d: d["global"].update({"sdrkit:sample_count": Raw("NaN")})),
    ("sample-count-inf", 1, lambda d: d["global"].update({"sdrkit:sample_count": Raw("Infinity")})),
    ("sample-count-list", 1, lambda d: d["global"].update({"sdrkit:sample_count": [1]})),
    ("sample-count-str", 1, lambda d: d["global"].update({"sdrkit:sample_count": "cf32_le"})),
    ("lost-samples-nan", 4, lambda d: _gap(d).update({"sdrkit:lost_samples": Raw("NaN")})),
    ("lost-samples-str", 4, lambda d: _gap(d).update({"sdrkit:lost_samples": "many"})),
    ("lost-samples-list", 4, lambda d: _gap(d).update({"sdrkit:lost_samples": [37]})),
    ("radio-config-float", 1, lambda d: d["global"].update({"sdrkit:radio_config": 1.5})),
    ("radio-config-list", 1, lambda d: d["global"].update({"sdrkit:radio_config": [1]})),
    ("radio-gain-str", 1, lambda d: d["global"]["sdrkit:radio_config"].update({"rx_hardwaregain": "x"})),
    ("header-bytes-str", 0, lambda d: d["captures"][0].update({"core:header_bytes": "x"})),
    ("header-bytes-negative", 0, lambda d: d["captures"][0].update({"core:header_bytes": -8})),
    ("annotation-start-str", 0, lambda d: d["annotations"][0].update({"core:sample_start": "x"})),
    ("annotation-count-inf", 0, lambda d: d["annotations"][0].update({"core:sample_count": Raw("1e999")})),
    ("num-channels-huge", 0, lambda d: d["global"].update({"core:num_channels": 2 ** 64})),
    ("captures-not-list", 0, lambda d: d.update({"captures": {"core:sample_start": 0}})),
    ("annotations-not-list", 0, lambda d: d.update({"annotations": 5})),
    ("sample-rate-huge", 0, lambda d: d["global"].update({"core:sample_rate": 1e308})),
    # 100k valid annotations (a 4 MB meta): jsonschema took ~0.3 ms per annotation (30 s; fixed in ae3d714)
    # any other array the schema describes, 100k long: what jsonschema still checks item by item
    ("extensions-100k", 0, lambda d: d["global"].update({"core:extensions": [0] * 100_000})),
    ("captures-100k", 0, lambda d: d.update({"captures": d["captures"] * 100_000})),
    ("annotations-100k", 0, lambda d: d.update({"annotations": [{"core:sample_start": i % 200, "core:sample_count": 1}
                                                                for i in range(100_000)]})),
]
OPEN: dict[str, str] = {}      # case id -> signature; who fixes it, while the fix is not on main

# the property tests tolerate the open defects' signatures (type and file): each has a strict
# xfail case above, so the fix turns it into an XPASS, to be removed from OPEN with its fix
KNOWN = {sig.split(":")[0].split(" (")[0] for sig in OPEN.values() if not sig.startswith("Hang")}


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0], marks=[pytest.mark.xfail(
    strict=True, reason=OPEN[c[0]])] if c[0] in OPEN else []) for c in CASES])
def test_hostile_metadata_is_a_capture_error(target, case):
    name, seed, edit = case
    res = run_one(target, _edit(target, seed, edit))
    assert res.kind in ("ok", "refused"), f"{res.kind}: {res.signature}"


@pytest.mark.parametrize("cut", [0, 1, 7, -1])
def test_truncated_or_missing_data(target, cut):
    meta, raw = unpack(target.seeds()[1])
    res = run_one(target, pack([meta]) if cut == 0 else pack([meta, raw[:cut]]))
    assert res.kind == "refused", f"{res.kind}: {res.signature}"
