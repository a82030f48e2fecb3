"""The ``ngspice -b`` route: one subprocess per netlist, printed results parsed.

Slow (a process per operating point) but independent of our binding: tests use
it as a reference, the benchmark as the baseline.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .binding import SETUP_HINT
from .errors import NgspiceConvergenceError, NgspiceError
from .netlist_edit import NetlistSpec

_LINE = re.compile(r"^\s*(\S+)\s*=\s*([-+0-9.eE]+)\s*$")


def batch_operating_point(
    netlist: str, *, options: dict[str, object] | None = None, timeout: float = 60.0
) -> dict[str, float]:
    """Operating point of ``netlist`` from ``ngspice -b`` in a subprocess.

    The netlist is read by diodenet's safe reader and written as the simulator
    writes it (``NetlistSpec``: same merged ``.options``, analysis cards
    dropped, unsafe names aliased) plus our own ``.control`` block ``op;
    print all`` with 17 digits. ngspice runs in a private temporary directory
    (``-n``: no ``.spiceinit``; ``SPICE_SCRIPTS`` and ``HOME`` there, holding
    only our own empty init files). Returns {lower-case vector name: value}
    with the circuit's names, e.g. ``out``, ``v1#branch``.
    """
    exe = shutil.which("ngspice")
    if exe is None:
        raise NgspiceError(f"the ngspice program is not installed; {SETUP_HINT}")
    spec = NetlistSpec.parse(netlist, options)
    lines = spec.base_lines()[:-1]  # drop .end
    lines += [".control", "set numdgt=17", "op", "print all", ".endc", ".end"]
    with tempfile.TemporaryDirectory(prefix="diodenet-ngspice-") as tmp:
        path = Path(tmp) / "circuit.cir"
        path.write_text("\n".join(lines) + "\n")
        for name in ("spinit", ".spiceinit"):
            (Path(tmp) / name).write_text("* diodenet: no start-up commands\n")
        env = {**os.environ, "SPICE_SCRIPTS": tmp, "HOME": tmp}
        proc = subprocess.run(
            [exe, "-n", "-b", "circuit.cir"], capture_output=True, text=True,
            timeout=timeout, check=False, cwd=tmp, env=env, stdin=subprocess.DEVNULL,
        )
    text = proc.stdout + proc.stderr
    names = spec.names
    values: dict[str, float] = {}
    for line in proc.stdout.splitlines():
        m = _LINE.match(line)
        if m:
            key = m.group(1).lower()
            head, hash_, tail = key.partition("#")
            head = names.user_element(head) if hash_ else names.user_node(head)
            values[head + hash_ + tail] = float(m.group(2))
    if not values:
        low = text.lower()
        err = [names.user_text(ln) for ln in text.splitlines()
               if "error" in ln.lower() or "fail" in ln.lower()]
        if "stepping failed" in low or "singular" in low or "iteration limit" in low:
            raise NgspiceConvergenceError("ngspice -b did not converge", err)
        raise NgspiceError("ngspice -b produced no operating point", err or text.splitlines()[-5:])
    return values
