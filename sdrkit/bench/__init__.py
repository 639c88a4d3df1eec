"""Benchmarks for ``sdrkit bench``: every figure beside a ceiling measured in the same run.

A benchmark is a function registered with :func:`benchmark`; it takes a
:class:`BenchContext` and returns a list of :class:`Result`. ``sdrkit bench [NAME ...]``
runs them, prints a table and writes JSON.

Benchmark modules are listed in ``BENCH_MODULES`` and imported lazily; a task adds its own
benchmark modules by listing them in its ``benchmarks`` attribute (found through ``TASKS``).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from sdrkit.registry import Registry

BENCHMARKS = Registry("benchmark")

# module -> the benchmarks it registers (imported when the benchmark runs)
BENCH_MODULES = [
    "sdrkit.bench.replay",
    "sdrkit.bench.spectrogram",
    "sdrkit.bench.sigmf_write",
    "sdrkit.bench.stream",
    "sdrkit.bench.pluto",
    "sdrkit.bench.soak",
]


@dataclass
class Result:
    """One measured figure.

    Attributes:
        name: what was measured (``replay``, ``spectrogram_1core``, ...).
        value: the figure.
        unit: its unit (``MS/s``, ``MB/s``, ``ms``).
        ceiling: the ceiling measured in the same run, same unit (None if none applies).
        ceiling_name: what the ceiling is (``memcpy``, ``scipy.fft``).
        target: the target the issue sets, same unit (None if none).
        higher_is_better: direction for the pass/fail column.
        notes: free text (sizes, threads).
    """

    name: str
    value: float
    unit: str
    ceiling: float | None = None
    ceiling_name: str = ""
    target: float | None = None
    higher_is_better: bool = True
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """value / ceiling."""
        return None if not self.ceiling else self.value / self.ceiling

    @property
    def passed(self) -> bool | None:
        """True/False against the target; None when there is no target."""
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ratio"] = self.ratio
        d["passed"] = self.passed
        return d


@dataclass
class BenchContext:
    """Options every benchmark sees."""

    quick: bool = False          # smaller sizes, for tests
    seconds: float = 1.0         # time budget per measurement


#: benchmarks that run only when named (long ones such as the soak)
OPT_IN: set[str] = set()


def benchmark(name: str, opt_in: bool = False) -> Callable:
    """Decorator: register ``fn(ctx) -> list[Result]`` as benchmark ``name``.

    Args:
        opt_in: run it only when named (``sdrkit bench NAME``), not with all the others.
    """
    if opt_in:
        OPT_IN.add(name)
    return BENCHMARKS.register(name)


def load_all() -> None:
    """Import every benchmark module: sdrkit's own and those the registered tasks list."""
    from sdrkit.tasks import TASKS, get_task

    for mod in BENCH_MODULES + [m for name in TASKS.names() for m in get_task(name).benchmarks]:
        importlib.import_module(mod)


def best_rate(fn: Callable[[], int], seconds: float = 1.0, repeats: int = 5) -> float:
    """Best items/second of ``fn`` (which returns how many items it processed).

    Runs ``fn`` once to warm up, then ``repeats`` timed rounds of at least
    ``seconds / repeats`` each, and returns the best round's rate.
    """
    fn()
    best = 0.0
    per_round = seconds / repeats
    for _ in range(repeats):
        n = 0
        t0 = time.perf_counter()
        while True:
            n += fn()
            dt = time.perf_counter() - t0
            if dt >= per_round:
                break
        best = max(best, n / dt)
    return best
