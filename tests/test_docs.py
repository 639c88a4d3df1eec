"""The README's commands run as written (issue 20): every fenced shell command and Python block in
README.md is run, in file order, in one scratch folder (so a command may use what an earlier one
wrote, as a reader would). Long commands run in the quick form listed in :data:`QUICK`.

Markers (an HTML comment on the line before the fence):

* ``<!-- docs-test: skip REASON -->``: the block is not run (e.g. it needs hardware);
* ``<!-- docs-test: run -->``: in ``docs/*.md``, the block is run (there, unmarked blocks are not).

A command that is neither runnable nor in ``QUICK`` fails the test with the fix to make, so a new
README section either runs or says why not.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHELL = ("bash", "sh", "shell", "console")
TIMEOUT_S = 240          # per command; long ones have a quick form below

# README command (as written, comments removed, continuation lines joined) -> the command the test runs,
# or None with the reason in SKIP.
QUICK = {
    "./setup.sh demo": "sdrkit demo --seconds 2",
    "sdrkit dataset amc --out data/amc_wide":
        "sdrkit dataset amc --out data/amc_wide --train-per-cell 1 --val-per-cell 1 --test-per-cell 1 "
        "--shifted-per-cell 1 --workers 1",
    "sdrkit dataset amc --family base --out data/amc":
        "sdrkit dataset amc --family base --out data/amc --train-per-cell 1 --val-per-cell 1 --test-per-cell 1 "
        "--workers 1",
    # the bundled model on the tiny data sets above (into the scratch folder, not the bundle)
    "sdrkit compress amc --model models/amc/card.json --data data/amc_wide --out models/amc-int8 --force":
        "sdrkit compress amc --model models/amc/card.json --data data/amc_wide --out out/amc-int8 --calib-frames 64",
    "sdrkit evaluate amc --data data/amc_wide --base-data data/amc":
        "sdrkit evaluate amc --quick --data data/amc_wide --base-data data/amc",
    "sdrkit classify --radio sim:captures/demo_mixed.sigmf-meta --model amc --view web":
        "sdrkit classify --radio sim:captures/demo_mixed.sigmf-meta --model amc --view web --view-port 0 --seconds 2",
}
SKIP = {
    "./setup.sh test": "runs the whole test suite, of which this test is a part",
    "sdrkit train amc --data data/amc_wide --out out/amc12/model --epochs 4 --lr 1.5e-3 --init models/amc/model.pt "
    "--seed 0 --time-budget 40":
        "40 min as written; the task contract smoke (tests/tasks/test_contract.py, amc) runs train amc at tiny size "
        "(one epoch still costs minutes: every exit placement is exported and calibrated)",
    "sdrkit train amc --data data/amc_wide --out out/amc12/model2 --epochs 1 --lr 5e-4 --init out/amc12/model/model.pt "
    "--extra-data data/amc --extra-frames 40000 --max-frames 72000 --seed 1 --time-budget 24":
        "24 min as written, and it starts from the stage above; the contract smoke trains amc at tiny size",
    "sdrkit train amc --data data/amc_wide --out out/amc25/model4 --epochs 4 --lr 5e-4 --init out/amc12/model2/model.pt "
    "--extra-data data/amc --extra-frames 40000 --max-frames 72000 --corrected-share 0.5 --seed 3 --time-budget 25":
        "~8 min as written, and it starts from the stage above; the contract smoke trains amc at tiny size",
    "sdrkit train amc --data data/amc_wide --out out/amc25/model5 --epochs 3 --lr 3e-4 --init out/amc25/model4/model.pt "
    "--extra-data data/amc --extra-frames 80000 --max-frames 110000 --corrected-share 0.5 --seed 4 --time-budget 25":
        "~9 min as written, and it starts from stage 3; the contract smoke trains amc at tiny size",
    "sdrkit evaluate beam":
        "the task contract smoke (tests/tasks/test_contract.py, beam) runs evaluate beam --quick; --quick trains "
        "the DeepBeam baseline, minutes on 2 cores",
}
# verbs that serve until stopped: started, then stopped after a few seconds (pass if still running)
SERVERS = ("emulate",)


def fenced_blocks(text: str):
    """``(lang, body, line, marker)`` for each fenced block; ``marker`` is the docs-test comment on
    the line before the fence ("" when none)."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^\s*```\s*([\w+-]*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        prev = lines[i - 1].strip() if i else ""
        marker = re.match(r"<!--\s*docs-test:\s*(.*?)\s*-->", prev)
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        yield m.group(1).lower(), "\n".join(lines[i + 1:j]), i + 1, marker.group(1) if marker else ""
        i = j + 1


def commands(body: str) -> list[str]:
    """Shell commands of a block: continuation lines joined, comments and prompts removed."""
    out, cur = [], ""
    for raw in body.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        toks = shlex.split(cur, comments=True)
        cur = ""
        if toks and toks[0] == "$":
            toks = toks[1:]
        if toks:
            out.append(shlex.join(toks))
    return out


def readme_steps(path: Path = ROOT / "README.md", marked_only: bool = False) -> list[tuple[str, str, int]]:
    """``(kind, text, line)`` to run: kind ``sh`` (one command) or ``python`` (a block)."""
    steps = []
    for lang, body, line, marker in fenced_blocks(path.read_text()):
        if marker.startswith("skip") or (marked_only and marker != "run"):
            continue
        if lang in SHELL:
            steps += [("sh", c, line) for c in commands(body)]
        elif lang == "python":
            steps.append(("python", body, line))
    return steps


def _normalize(cmd: str) -> str:
    return shlex.join(shlex.split(cmd))


def _run(kind: str, text: str, line: int, cwd: Path, where: str) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "120"}
    if kind == "python":
        r = subprocess.run([sys.executable, "-c", text], cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=TIMEOUT_S)
        assert r.returncode == 0, f"{where}:{line}: the Python example failed:\n{r.stderr[-3000:]}"
        return
    key = _normalize(text)
    if key in SKIP:
        return
    run = QUICK.get(key, key)
    argv = shlex.split(run)
    if argv[0] != "sdrkit":
        pytest.fail(f"{where}:{line}: {text!r} is not an sdrkit command; add its quick form to tests/test_docs.py "
                    f"QUICK (or SKIP with a reason), or mark its block <!-- docs-test: skip REASON -->")
    cmd = [sys.executable, "-m", "sdrkit"] + argv[1:]
    if argv[1] in SERVERS:
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            rc = p.wait(5)
            err = p.stderr.read()
            assert rc == 0, f"{where}:{line}: {run!r} exited {rc}:\n{err[-3000:]}"
        except subprocess.TimeoutExpired:
            pass            # still serving: it started
        finally:
            if p.poll() is None:
                p.terminate()
                p.wait(10)
        return
    try:
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{where}:{line}: {run!r} ran over {TIMEOUT_S} s; give it a quick form in tests/test_docs.py QUICK")
    assert r.returncode == 0, f"{where}:{line}: {run!r} exited {r.returncode}:\n{r.stderr[-3000:]}"


def test_fenced_blocks_and_commands_are_extracted():
    text = ("a\n<!-- docs-test: skip needs a Pluto -->\n```bash\nsdrkit devices\n```\n"
            "```bash\n# comment\nsdrkit classify --model beam \\\n    --radio \"sim:x?loop=0\"   # note\n```\n"
            "```python\nprint(1)\n```\n")
    blocks = list(fenced_blocks(text))
    assert [b[3] for b in blocks] == ["skip needs a Pluto", "", ""]
    assert commands(blocks[1][1]) == ["sdrkit classify --model beam --radio 'sim:x?loop=0'"]


def test_every_quick_form_and_skip_names_a_readme_command():
    # a README command that changed leaves a stale entry here: the entry then runs nothing
    present = {_normalize(t) for k, t, _ in readme_steps() if k == "sh"}
    stale = sorted((set(QUICK) | set(SKIP)) - present)
    assert not stale, f"tests/test_docs.py QUICK/SKIP entries no README command matches: {stale}"


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path):
    for kind, text, line in readme_steps():
        _run(kind, text, line, tmp_path, "README.md")


def test_readme_python_api_example_runs(tmp_path):
    steps = [s for s in readme_steps() if s[0] == "python"]
    assert steps, "README.md has no Python API example"
    for kind, text, line in steps:
        _run(kind, text, line, tmp_path, "README.md")


def test_marked_commands_in_docs_run(tmp_path):
    for path in sorted((ROOT / "docs").glob("*.md")):
        for kind, text, line in readme_steps(path, marked_only=True):
            _run(kind, text, line, tmp_path, str(path.relative_to(ROOT)))


def test_the_demo_writes_the_png_its_readme_row_names(tmp_path):
    # README's verb table: demo -> "confusion PNG" with the bundled model; --no-model -> a spectrogram PNG
    row = next(l for l in (ROOT / "README.md").read_text().splitlines() if l.startswith("| `demo` |"))
    assert "confusion PNG" in row and "spectrogram PNG" in row
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for extra, png in (([], "confusion.png"), (["--no-model"], "spectrogram.png")):
        r = subprocess.run([sys.executable, "-m", "sdrkit", "demo", "--seconds", "1", "--out", "o"] + extra,
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        assert (tmp_path / "o" / png).exists(), (png, r.stdout[-500:])
