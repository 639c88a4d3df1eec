"""Crafted SigMF metadata is refused with a CaptureError naming the file and the field (issue 11, item 5).

Each case is one of the fuzz findings' root causes: huge integers and deep nesting in the JSON
itself, an unhashable ``core:datatype``, a bad ``sdrkit:full_scale``, non-integer counts in
``sdrkit:sample_count`` and gap ``sdrkit:lost_samples``, a ``sdrkit:radio_config`` that is not
an object of settings. Every reader of recordings (``open_recording``, ``sdrkit info``, the
``sim:`` radio behind ``replay``/``classify``/``emulate --replay``) must stop with the same error.
"""

import json
import re
import time

import numpy as np
import pytest

from sdrkit.capture import open_recording, write_recording
from sdrkit.errors import CaptureError, ModelError


def _recording(tmp_path, datatype="ci16_le"):
    x = (0.1 * np.exp(1j * np.arange(4096) / 7)).astype(np.complex64)
    return write_recording(tmp_path / "r", x, sample_rate=1e6, center_frequency=915e6, datatype=datatype,
                           extra_global={"radio_config": {"rx_lo": 915e6, "rx_hardwaregain": 30.0}},
                           annotations=[dict(start=0, count=1024, label="bpsk", snr_db=10.0)])


def _edit(meta, section, key, raw):
    """Set ``key`` in the first object of ``section`` to the JSON text ``raw`` (so NaN, 1e999, ... survive)."""
    d = json.loads(meta.read_text())
    obj = d["global"] if section == "global" else d[section][0]
    if section == "annotations" and key == "sdrkit:lost_samples":
        obj.update({"core:label": "gap", "core:sample_count": 0})
    obj[key] = "@@RAW@@"
    meta.write_text(json.dumps(d).replace('"@@RAW@@"', raw))


# (section, field, raw JSON value, what the message must say besides the file and the field)
CASES = [
    ("global", "core:sample_rate", "1" + "0" * 5000, "number of 5001 digits"),
    ("global", "core:datatype", "[]", "core:datatype"),
    ("global", "core:datatype", '{"a": 1}', "core:datatype"),
    ("global", "sdrkit:full_scale", '"2048"', r"must be a positive number in \[1, 2147483648\]"),
    ("global", "sdrkit:full_scale", "1e308", r"\[1, 2147483648\]"),
    ("global", "sdrkit:full_scale", "1" + "0" * 60, r"\[1, 2147483648\]"),
    ("global", "sdrkit:full_scale", "NaN", r"\[1, 2147483648\]"),
    ("global", "sdrkit:full_scale", "1e999", "too large for a double"),
    ("global", "sdrkit:sample_count", "NaN", "must be an integer sample count"),
    ("global", "sdrkit:sample_count", "Infinity", "must be an integer sample count"),
    ("global", "sdrkit:sample_count", "[4096]", "must be an integer sample count"),
    ("global", "sdrkit:sample_count", '"4096"', "must be an integer sample count"),
    ("global", "sdrkit:sample_count", "-1", "must be an integer sample count"),
    ("global", "sdrkit:radio_config", "[1, 2]", "must be an object of radio settings"),
    ("global", "sdrkit:radio_config", '"rx_lo=1e9"', "must be an object of radio settings"),
    ("global", "sdrkit:radio_config", '{"rx_hardwaregain": null}', "rx_hardwaregain=None must be a finite number"),
    ("global", "sdrkit:radio_config", '{"rx_hardwaregain": "high"}', "rx_hardwaregain='high' must be a finite"),
    ("global", "sdrkit:radio_config", '{"rx_lo": {"a": 1}}', "must be an object of radio settings"),
    ("annotations", "sdrkit:lost_samples", "NaN", r"annotations\[0\] sdrkit:lost_samples=nan must be an integer"),
    ("annotations", "sdrkit:lost_samples", "-Infinity", "annotations.0. sdrkit:lost_samples=-inf"),
    ("annotations", "sdrkit:lost_samples", "[3]", r"annotations\[0\] sdrkit:lost_samples=\[3\]"),
    ("annotations", "sdrkit:lost_samples", '"3"', r"annotations\[0\] sdrkit:lost_samples='3'"),
    ("captures", "core:frequency", "NaN", r"captures\[0\] core:frequency=nan must be a finite frequency"),
]
IDS = [f"{s}-{k}-{v[:12]}" for s, k, v, _ in CASES]


@pytest.mark.parametrize("section, key, raw, says", CASES, ids=IDS)
def test_crafted_field_is_a_capture_error_naming_file_and_field(tmp_path, section, key, raw, says):
    meta = _recording(tmp_path)
    _edit(meta, section, key, raw)
    with pytest.raises(CaptureError, match=says) as err:
        open_recording(meta)
    assert str(meta) in str(err.value)
    if "digits" not in says and "double" not in says:        # refused while parsing: no field yet
        assert key.split(":")[1] in str(err.value) or "core:datatype" in str(err.value)


@pytest.mark.parametrize("text, says", [
    ('{"global": ' + "[" * 100_000 + "]" * 100_000 + "}", r"nests \d+ levels of arrays/objects, more than the limit of 64"),
    ('{"global": {"core:datatype": "ci16_le", "x": ' + "[" * 900 + "]" * 900 + "}}", r"nests \d+ levels of arrays/objects, more than the limit of 64"),
    ("[" * 100_000, r"nests \d+ levels of arrays/objects, more than the limit of 64"),
    ('{"global": {"core:sample_rate": ' + "9" * 4400 + "}}", "number of 4400 digits, more than the limit of 64"),
    (b'{"global": "\xff\xfe"}', "not UTF-8"),
], ids=["deep-100k", "deep-900", "deep-unclosed", "4400-digit-int", "not-utf8"])
def test_hostile_json_is_refused_before_it_is_parsed(tmp_path, text, says):
    meta = _recording(tmp_path)
    (meta.write_bytes if isinstance(text, bytes) else meta.write_text)(text)
    with pytest.raises(CaptureError, match=says) as err:
        open_recording(meta)
    assert str(meta) in str(err.value) and "re-record or restore it" in str(err.value)


def test_oversize_metadata_is_refused_without_reading_it_all(tmp_path, monkeypatch):
    import sdrkit.capture.reader as reader

    meta = _recording(tmp_path)
    monkeypatch.setattr(reader, "META_MAX_BYTES", 200)     # the real limit is 64 MiB
    with pytest.raises(CaptureError, match=r"SigMF metadata is 201 bytes, more than the limit of 200 bytes"):
        open_recording(meta)


def test_bundled_and_written_recordings_still_open(tmp_path):
    meta = _recording(tmp_path)
    with open_recording(meta) as rec:
        assert rec.global_info["sdrkit:radio_config"]["rx_hardwaregain"] == 30.0 and rec.num_samples == 4096
    with open_recording("demo_mixed") as rec:
        assert rec.num_samples > 0


def test_unsorted_annotations_are_refused_as_sigmf_requires(tmp_path):
    meta = _recording(tmp_path)
    d = json.loads(meta.read_text())
    d["annotations"] = [{"core:sample_start": 100, "core:sample_count": 1}, {"core:sample_start": 0, "core:sample_count": 1}]
    meta.write_text(json.dumps(d))
    with pytest.raises(CaptureError, match="annotations are not sorted by core:sample_start"):
        open_recording(meta)


# ---- every verb that reads a recording stops with the error, not a traceback ----------------

def _crafted(tmp_path):
    meta = _recording(tmp_path)
    _edit(meta, "annotations", "sdrkit:lost_samples", "NaN")
    return meta


def test_info_verb_prints_the_capture_error(tmp_path, capsys):
    from sdrkit.cli import main

    meta = _crafted(tmp_path)
    assert main(["info", str(meta)]) == 1
    assert re.search(r"CaptureError: .*sdrkit:lost_samples=nan", capsys.readouterr().err)


def test_sim_radio_refuses_a_crafted_recording(tmp_path):
    from sdrkit.radio import open_radio

    meta = _recording(tmp_path)
    _edit(meta, "global", "sdrkit:radio_config", '{"rx_hardwaregain": "loud"}')
    with pytest.raises(CaptureError, match=r"sdrkit:radio_config rx_hardwaregain='loud'"):
        open_radio(f"sim:{meta}")


# ---- the loader itself ------------------------------------------------------------------------

def test_safe_loader_raises_the_callers_error_type():
    from sdrkit.capture.safejson import parse_json

    with pytest.raises(ModelError, match=r"^card\.json: model card holds a number of 5000 digits"):
        parse_json("[" + "7" * 5000 + "]", where="card.json: model card", error=ModelError)
    with pytest.raises(ModelError, match="the constant NaN"):
        parse_json("[NaN]", where="c", error=ModelError, allow_nan=False)
    assert parse_json('{"a": ["[[[[", {"b": 1}]}', where="c", error=ModelError) == {"a": ["[[[[", {"b": 1}]}


def test_safe_loader_is_fast_on_wide_hostile_input():
    from sdrkit.capture.safejson import parse_json

    t0 = time.perf_counter()
    with pytest.raises(CaptureError):
        parse_json("[]" * 2_000_000, where="x", error=CaptureError)
    assert time.perf_counter() - t0 < 2.0


def test_sigmf_schema_itself_is_checked_once_per_process(tmp_path, monkeypatch):
    """Issue 11, item 11: re-checking the constant SigMF schema cost ~20 ms per recording opened."""
    import jsonschema
    from sigmf import schema as sigmf_schema

    from sdrkit.capture import schema

    cls = jsonschema.validators.validator_for(sigmf_schema.get_schema())
    calls = []
    real = cls.check_schema
    monkeypatch.setattr(cls, "check_schema", classmethod(lambda c, s, **kw: calls.append(1) or real(s, **kw)))
    schema._sigmf_validator.cache_clear()
    meta = _recording(tmp_path)
    for _ in range(3):
        open_recording(meta).close()
    assert len(calls) == 1
    bad = json.loads(meta.read_text())
    bad["global"]["core:sample_rate"] = -1
    meta.write_text(json.dumps(bad))
    with pytest.raises(CaptureError, match=r"invalid SigMF metadata: .* \(at global/core:sample_rate\)"):
        open_recording(meta)


ITEMS = [{"core:sample_start": 0}, {"core:sample_start": 5, "core:sample_count": 3, "core:label": "x"},
         {"core:sample_start": 5.0}, {"core:sample_start": 5.5}, {"core:sample_start": -1}, {"core:sample_start": 2 ** 63},
         {"core:sample_start": True}, {"core:sample_start": "0"}, {"core:sample_count": 1}, {"core:sample_start": None},
         {"core:sample_start": 0, "core:label": 5}, {"core:sample_start": 0, "core:freq_lower_edge": 1e13},
         {"core:sample_start": 0, "core:freq_upper_edge": float("nan")}, {"core:sample_start": 0, "core:uuid": "x"},
         {"core:sample_start": 0, "sdrkit:anything": [1, {"a": 2}]}, [], "a", 5]


@pytest.mark.parametrize("item", ITEMS, ids=[repr(i)[:40] for i in ITEMS])
def test_fast_annotation_check_agrees_with_jsonschema(item):
    import jsonschema

    from sdrkit.capture import schema

    check = schema._flat_item_check("annotations")
    assert check is not None, "the SigMF annotation schema is no longer flat: the fast path is off"
    item_schema = schema._sigmf_validator().schema["properties"]["annotations"]["items"]
    slow = jsonschema.validators.validator_for(item_schema)(item_schema).is_valid(item)
    assert (check(item) is None) == slow


def test_many_annotations_open_in_linear_time(tmp_path):
    """jsonschema took ~0.3 ms per annotation (100k: 30 s); the flat item check takes microseconds."""
    meta = _recording(tmp_path)
    d = json.loads(meta.read_text())
    d["annotations"] = [{"core:sample_start": i // 10, "core:sample_count": 1} for i in range(20_000)]
    meta.write_text(json.dumps(d))
    t0 = time.perf_counter()
    with open_recording(meta) as rec:
        assert len(rec.annotations) == 20_000
    assert time.perf_counter() - t0 < 3.0
    d["annotations"][12_345]["core:sample_count"] = -4
    meta.write_text(json.dumps(d))
    with pytest.raises(CaptureError, match=r"-4 is less than the minimum of 0 \(at annotations/12345/core:sample_count\)"):
        open_recording(meta)


@pytest.mark.parametrize("edit, says", [
    (lambda d: d["global"].update({"core:extensions": [0] * 100_000}),
     r"global core:extensions has 100000 entries, more than the limit of 256"),
    (lambda d: d.update({"captures": d["captures"] * 20_000}), r"captures has 20000 segments, more than the limit of 10000"),
    (lambda d: d["global"].update({"core:extensions": [0] * 200}), r"0 is not of type 'object' \(at global/core:extensions/\d+\)"),
    (lambda d: d["captures"][0].update({"core:datetime": "yesterday"}), r"'yesterday' does not match .* \(at captures/0/core:datetime\)"),
    (lambda d: d["captures"][0].update({"core:geolocation": {"type": "Point", "coordinates": [1]}}),
     r"\[1\] is too short \(at captures/0/core:geolocation\)"),
], ids=["extensions-100k", "captures-20k", "extensions-wrong", "datetime-wrong", "geolocation-wrong"])
def test_long_or_wrong_arrays_are_refused_quickly(tmp_path, edit, says):
    """Found by the long fuzz run: jsonschema took > 2 s on 10k core:extensions or 100k captures."""
    meta = _recording(tmp_path)
    d = json.loads(meta.read_text())
    edit(d)
    meta.write_text(json.dumps(d))
    t0 = time.perf_counter()
    with pytest.raises(CaptureError, match=says):
        open_recording(meta)
    assert time.perf_counter() - t0 < 2.0


CAPTURE_ITEMS = [{"core:sample_start": 0, "core:datetime": "2026-12-01T22:00:00.000000Z", "core:frequency": 9e8},
                 {"core:sample_start": 0, "core:datetime": "noon"}, {"core:sample_start": 0, "core:datetime": 5},
                 {"core:sample_start": 0, "core:frequency": 2e12}, {"core:sample_start": 0, "core:header_bytes": -1},
                 {"core:sample_start": 0, "core:geolocation": {"type": "Point", "coordinates": [1.0, 2.0]}},
                 {"core:sample_start": 0, "core:geolocation": {"type": "Line", "coordinates": [1.0, 2.0]}}, {}]


@pytest.mark.parametrize("item", CAPTURE_ITEMS, ids=[repr(i)[:40] for i in CAPTURE_ITEMS])
def test_fast_capture_check_agrees_with_jsonschema(item):
    import jsonschema

    from sdrkit.capture import schema

    check = schema._flat_item_check("captures")
    item_schema = schema._sigmf_validator().schema["properties"]["captures"]["items"]
    slow = jsonschema.validators.validator_for(item_schema)(item_schema).is_valid(item)
    assert check is not None and (check(item) is None) == slow
