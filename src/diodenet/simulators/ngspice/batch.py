"""The ``ngspice -b`` route: one subprocess per netlist, printed results parsed.

Slow (a process per operating point) but independent of our binding: tests use
it as a reference, the benchmark as the baseline.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .binding import SETUP_HINT, NgspiceConvergenceError, NgspiceError
from .netlist_edit import NetlistSpec

_LINE = re.compile(r"^\s*(\S+)\s*=\s*([-+0-9.eE]+)\s*$")


def batch_operating_point(
    netlist: str, *, options: dict[str, object] | None = None, timeout: float = 60.0
) -> dict[str, float]:
    """Operating point of ``netlist`` from ``ngspice -b`` in a subprocess.

    The netlist is rewritten as the simulator loads it (same merged ``.options``,
    analysis cards dropped) plus a ``.control`` block ``op; print all`` with 17
    digits. Returns {lower-case vector name: value}, e.g. ``out``, ``v1#branch``.
    """
    exe = shutil.which("ngspice")
    if exe is None:
        raise NgspiceError(f"the ngspice program is not installed; {SETUP_HINT}")
    spec = NetlistSpec.parse(netlist, options)
    lines = spec.base_lines()[:-1]  # drop .end
    lines += [".control", "set numdgt=17", "op", "print all", ".endc", ".end"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "circuit.cir"
        path.write_text("\n".join(lines) + "\n")
        proc = subprocess.run(
            [exe, "-b", str(path)], capture_output=True, text=True, timeout=timeout, check=False
        )
    text = proc.stdout + proc.stderr
    values: dict[str, float] = {}
    for line in proc.stdout.splitlines():
        m = _LINE.match(line)
        if m:
            values[m.group(1).lower()] = float(m.group(2))
    if not values:
        low = text.lower()
        err = [ln for ln in text.splitlines() if "error" in ln.lower() or "fail" in ln.lower()]
        if "stepping failed" in low or "singular" in low or "iteration limit" in low:
            raise NgspiceConvergenceError("ngspice -b did not converge", err)
        raise NgspiceError("ngspice -b produced no operating point", err or text.splitlines()[-5:])
    return values
