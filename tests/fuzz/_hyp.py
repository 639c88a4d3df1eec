"""The one hypothesis property every harness runs in CI: mutate a seed, the crash rule holds.

``derandomize=True``: CI explores the same inputs each run (the long runs explore more, see
:mod:`tests.fuzz.run`). ``deadline`` matches the crash rule's 2 s hang limit, with slack.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz._core import run_one


def mutated(target, data: st.DataObject) -> bytes:
    """A seed of ``target`` after one to three chained mutations drawn by hypothesis."""
    seeds = target.seeds()
    x = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed")]
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        x = target.mutate(x, data.draw(st.randoms(use_true_random=False)))
    return x


def property_test(max_examples: int):
    """Decorator: ``test(target, data)`` becomes a hypothesis test of ``max_examples`` inputs."""
    return lambda f: settings(max_examples=max_examples, deadline=2500, derandomize=True, database=None,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                     HealthCheck.function_scoped_fixture])(
        given(data=st.data())(f))


def check(target, data: bytes, known: dict) -> None:
    """Assert the crash rule for ``data``; a crash whose signature is in ``known`` (open bugs
    with their own strict xfail case) does not fail the property."""
    res = run_one(target, data)
    if res.bad and not any(k in res.signature for k in known):
        raise AssertionError(f"{res.kind}: {res.signature} (input saved as {res.saved})")
