"""The package's import graph: no cycles, layers import downwards only, cli/ names no task.

The scan reads every module's AST, function-local imports included (a cycle through a
function-local import is still a cycle: it only moves the failure to run time).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "sdrkit"

# lowest first; a module may import from its own layer and the ones before it
LAYERS = [
    ("foundations", ("sdrkit.errors", "sdrkit.registry", "sdrkit.resources")),
    ("data and signals", ("sdrkit.profiles", "sdrkit.dsp", "sdrkit.capture")),
    ("radios, model runtime, networks", ("sdrkit.radio", "sdrkit.runtime", "sdrkit.nn")),
    ("streams, sinks, rigs", ("sdrkit.stream", "sdrkit.sinks", "sdrkit.rigs")),
    # a task registers its own benchmarks (sdrkit.bench's registry); sdrkit.bench finds them via TASKS
    ("tasks and benchmarks", ("sdrkit.tasks", "sdrkit.bench")),
    ("command line", ("sdrkit.cli", "sdrkit.__main__")),
]


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(mod: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for n in names:
            r = _resolve(n) if n.startswith("sdrkit") else None
            if r and r != mod and r != "sdrkit":
                out.add(r)
    return out


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _layer(mod: str) -> int | None:
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(mod == p or mod.startswith(p + ".") for p in prefixes):
            return i
    return None


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m != "sdrkit" and _layer(m) is None] == []


def test_no_import_cycles():
    # Tarjan's strongly connected components; any component of more than one module is a cycle
    index, low, stack, on, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in sorted(GRAPH):
        if m not in index:
            visit(m)
    assert cycles == []


def test_layers_import_downwards_only():
    bad = []
    for m, deps in GRAPH.items():
        lm = _layer(m)
        for d in deps:
            ld = _layer(d)
            if lm is not None and ld is not None and ld > lm:
                bad.append(f"{m} ({LAYERS[lm][0]}) imports {d} ({LAYERS[ld][0]})")
    assert sorted(bad) == []


def test_benchmarks_reach_tasks_only_through_the_registry():
    allowed = {"sdrkit.tasks", "sdrkit.tasks.base"}
    bad = [f"{m} imports {d}" for m, deps in GRAPH.items() if m.startswith("sdrkit.bench")
           for d in deps if d.startswith("sdrkit.tasks") and d not in allowed]
    assert bad == []


def _task_names():
    from sdrkit.tasks import TASKS

    return TASKS.names()


@pytest.mark.parametrize("path", sorted((PKG / "cli").glob("*.py")), ids=lambda p: p.name)
def test_no_cli_module_names_a_task(path):
    """No import of a task's modules and no string that names a task (exactly, or as a path/module)."""
    names = _task_names()
    assert names, "no task registered"
    tree = ast.parse(path.read_text())
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for n in names:
                v = node.value
                if v.strip() == n or re.search(rf"(models|tasks)[/.]{re.escape(n)}\b", v) \
                        or re.search(rf"\b{re.escape(n)}(:|'s)\s", v + " "):
                    hits.append(v[:60])
    mods = {m for m in GRAPH.get(".".join(path.relative_to(PKG.parent).with_suffix("").parts), ())}
    hits += sorted(m for m in mods if m.startswith("sdrkit.tasks.") and m != "sdrkit.tasks.base")
    assert hits == [], f"{path.name} names task(s): {hits}; go through sdrkit.tasks.TASKS"
