"""The front door works as written: every code block of README.md and of the
getting-started page runs, in document order, in a fresh directory.

What runs, and what does not:

* ``python`` blocks are executed, one shared namespace per page (a block may
  use what an earlier one defined); blocks assert their own results;
* in ``bash`` blocks, every ``diodenet ...`` line is run as
  ``python -m diodenet ...`` and must exit 0. The one shortening: ``diodenet
  train`` gets ``--epochs 1`` unless the line sets its own, so the suite stays
  fast (the page's command trains longer, with the same options otherwise);
* ``make ...`` lines (the setup commands), ``console`` blocks (install) and
  ``text``/``bibtex`` blocks are not run.
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
PAGES = ["README.md", "docs/getting-started.md"]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)


def code_blocks(page: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(page.read_text())]


def diodenet_commands(block: str) -> list[list[str]]:
    commands = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("diodenet "):
            continue
        args = shlex.split(line)[1:]
        if args[0] == "train" and "--epochs" not in args:
            args += ["--epochs", "1"]
        commands.append(args)
    return commands


def test_the_pages_have_the_blocks_this_test_expects():
    for name in PAGES:
        kinds = {kind for kind, _ in code_blocks(ROOT / name)}
        assert {"python", "bash"} <= kinds, name
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert len(readme.splitlines()) <= 150


def test_readme_links_point_at_files_that_exist():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", (ROOT / "README.md").read_text())
    local = [link for link in links if "://" not in link]
    assert local, "the README links to the docs"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing


@pytest.mark.parametrize("name", PAGES)
def test_every_block_runs(name, tmp_path, monkeypatch, ngspice_available):
    monkeypatch.chdir(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    namespace: dict[str, object] = {"__name__": "__main__"}
    ran = 0
    for kind, block in code_blocks(ROOT / name):
        if kind == "python":
            exec(compile(block, f"{name} (python block {ran})", "exec"), namespace)
            ran += 1
        elif kind == "bash":
            for args in diodenet_commands(block):
                out = subprocess.run([sys.executable, "-m", "diodenet", *args],
                                     capture_output=True, text=True, timeout=600, env=env)
                assert out.returncode == 0, f"diodenet {shlex.join(args)}:\n{out.stderr}"
                ran += 1
    assert ran >= 4
