"""What the writer emits runs in the real ngspice, and means what diodenet means.

Truths used here: the ngspice binary itself (``ngspice -b``), and closed forms
for the transformer, gyrator and diode stand-ins.
"""

from __future__ import annotations

import math
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from diodenet import Circuit
from diodenet.circuits import D1N4148, IdealDiode, PWLDiode, ShockleyDiode
from diodenet.circuits.netlist import read_netlist

NETLISTS = Path(__file__).parent / "netlists"
TIGHT = ".options reltol=1e-9 abstol=1e-15 vntol=1e-12"
_VALUE = re.compile(r"^\s*(\S+)\s+([-+]?\d\.\d+e[-+]\d+)\s*$")


def ngspice_op(text: str, folder: Path) -> dict[str, float]:
    """Run ``ngspice -b`` on ``text`` with ``.op`` added; return node voltages
    and ``name#branch`` currents. Fails on a non-zero exit or an error message."""
    lines = text.rstrip("\n").split("\n")
    assert lines[-1].lower() == ".end"
    path = folder / "run.cir"
    path.write_text("\n".join([*lines[:-1], TIGHT, ".op", ".end"]) + "\n")
    proc = subprocess.run(
        ["ngspice", "-b", str(path)], cwd=folder, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    low = out.lower()
    for bad in ("error", "singular", "can't find", "fatal", "failed"):
        assert bad not in low, out
    # read only the operating-point tables ("Node Voltage", "Source Current"),
    # not the device listings that follow them
    values: dict[str, float] = {}
    in_table = False
    for line in out.splitlines():
        words = line.split()
        if words in (["Node", "Voltage"], ["Source", "Current"]):
            in_table, read = True, 0
            continue
        if not in_table or set(line.strip()) <= {"-", "\t", " "}:
            if in_table and not line.strip() and read:
                in_table = False
            continue
        m = _VALUE.match(line)
        if m:
            values[m.group(1).lower()] = float(m.group(2))
            read += 1
        else:
            in_table = False
    assert values, out
    return values


def well_posed(seed: int) -> Circuit:
    """A random circuit with every element kind and diode model that has a
    unique operating point: every node has a resistor to ground, voltage-
    defined elements drive fresh nodes, controlled gains are small."""
    rng = random.Random(seed)
    c = Circuit(f"random well-posed circuit {seed}")
    nodes = [f"n{k}" for k in range(6)]

    def node() -> str:
        return rng.choice(nodes)

    def two() -> tuple[str, str]:
        a, b = rng.sample(nodes, 2)
        return a, b

    for k, n in enumerate(nodes):
        c.add_resistor(f"rg{k}", n, "0", resistance=rng.uniform(200, 5e3))
    for k in range(6):
        c.add_resistor(f"r{k}", *two(), resistance=rng.uniform(100, 1e4))
    models = [IdealDiode(), PWLDiode(vf=rng.uniform(0.3, 0.9), ron=rng.uniform(0, 50)),
              PWLDiode(vf=0.0, ron=5.0), PWLDiode(vf=2.5, ron=1.0), D1N4148,
              ShockleyDiode(is_=1e-12, n=1.3, rs=2.0, bv=40.0)]
    for k, model in enumerate(models):
        c.add_diode(f"d{k}", *two(), model)
    c.add_diode("d9", node(), "0", IdealDiode())  # a second ideal stand-in
    for k in range(2):
        c.add_voltage_source(f"v{k}", f"in{k}", "0", rng.uniform(-3, 3))
        c.add_resistor(f"rin{k}", f"in{k}", node(), resistance=rng.uniform(100, 1e3))
    c.add_current_source("i0", *two(), rng.uniform(-2e-3, 2e-3))
    c.add_vcvs("e0", "eo", "0", *two(), rng.uniform(-2, 2))
    c.add_resistor("reo", "eo", node(), resistance=2e3)
    c.add_ccvs("h0", "ho", "0", "v0", rng.uniform(-500, 500))
    c.add_resistor("rho", "ho", node(), resistance=2e3)
    c.add_cccs("f0", *two(), "v1", rng.uniform(-0.05, 0.05))
    c.add_vccs("g0", *two(), *two(), rng.uniform(-1e-5, 1e-5))
    c.add_transformer("xt0", *two(), "ts", "0", rng.uniform(0.5, 3))
    c.add_resistor("rts", "ts", node(), resistance=3e3)
    c.add_gyrator("xg0", *two(), *two(), rng.uniform(1e-5, 1e-4))
    return c


@pytest.mark.parametrize("seed", range(6))
def test_written_netlists_run_in_ngspice(seed: int, tmp_path: Path, ngspice_available) -> None:
    c = well_posed(seed)
    text = c.to_spice()
    assert Circuit.from_spice(text) == c
    v = ngspice_op(text, tmp_path)
    # ngspice saw every node of ours (plus the sensing node inside each transformer)
    reported = {k for k in v if "#" not in k}
    assert reported == {*c.nodes, "xt0.mid"}
    assert all(math.isfinite(x) for x in v.values())


@pytest.mark.parametrize("name", ["basic", "params", "subckt", "reserved", "edited_reserved",
                                  "diodenet_notes", "include_main"])
def test_corpus_rewritten_by_diodenet_solves_like_the_original(
    name: str, tmp_path: Path, ngspice_available
) -> None:
    """ngspice evaluates the original file (its own params, subckts, includes);
    our flattened rewrite must give the same operating point."""
    folder = tmp_path / "netlists"
    shutil.copytree(NETLISTS, folder)
    src = folder / f"{name}.cir"
    includes = [folder / "parts" / "divider.inc", folder / "models.lib"]
    with pytest.warns() if name in ("basic", "diodenet_notes") else _nothing():
        c = read_netlist(src, includes=includes if name == "include_main" else ())
    original = ngspice_op(src.read_text(), folder)
    rewritten = ngspice_op(c.to_spice(), tmp_path)
    assert set(c.nodes) <= set(original)  # flattened node names are ngspice's own
    for node in c.nodes:
        assert rewritten[node] == pytest.approx(original[node], rel=2e-6, abs=1e-12), node


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_transformer_primitives_realise_the_equations(tmp_path: Path, ngspice_available) -> None:
    """v1 = n v2 and i2 = -n i1 (currents into p1, s1), with floating windings."""
    n, vs, r1, rl = 2.5, 3.0, 150.0, 1e3
    c = Circuit("transformer")
    c.add_voltage_source("v1", "in", "0", vs)
    c.add_resistor("r1", "in", "p1", resistance=r1)
    c.add_resistor("rp2", "p2", "0", resistance=220.0)
    c.add_transformer("x1", "p1", "p2", "s1", "s2", n)
    c.add_resistor("rl", "s1", "s2", resistance=rl)
    c.add_resistor("rs2", "s2", "0", resistance=330.0)
    v = ngspice_op(c.to_spice(), tmp_path)
    v1, v2 = v["p1"] - v["p2"], v["s1"] - v["s2"]
    i1 = (vs - v["p1"]) / r1  # into p1
    i2 = -v2 / rl  # into s1: the load current flows out of s1
    # ngspice prints 7 significant digits; differences of them lose a little
    assert v1 == pytest.approx(n * v2, rel=1e-5)
    assert i2 == pytest.approx(-n * i1, rel=1e-5)
    # closed form: each winding's current returns through the same winding, so
    # the primary loop is vs, r1, n^2 RL (reflected) and rp2; rs2 carries nothing
    i_closed = vs / (r1 + 220.0 + n**2 * rl)
    assert v["p1"] == pytest.approx(vs - r1 * i_closed, rel=1e-6)
    assert v["p2"] == pytest.approx(220.0 * i_closed, rel=1e-6)
    assert v["s2"] == pytest.approx(0.0, abs=1e-9)


def test_gyrator_primitives_realise_the_equations(tmp_path: Path, ngspice_available) -> None:
    """i1 = g v2 and i2 = -g v1; closed form V(a) = I / (1/Ra + g^2 Rb)."""
    g, current, ra, rb = 2e-3, 1e-3, 1e3, 500.0
    c = Circuit("gyrator")
    c.add_current_source("i1", "0", "a", current)  # pushes 1 mA into a
    c.add_resistor("ra", "a", "0", resistance=ra)
    c.add_gyrator("x1", "a", "0", "b", "0", g)
    c.add_resistor("rb", "b", "0", resistance=rb)
    v = ngspice_op(c.to_spice(), tmp_path)
    i1 = current - v["a"] / ra  # into port 1
    i2 = -v["b"] / rb  # into port 2
    assert i1 == pytest.approx(g * v["b"], rel=1e-5)
    assert i2 == pytest.approx(-g * v["a"], rel=1e-5)
    assert v["a"] == pytest.approx(current / (1 / ra + g**2 * rb), rel=1e-6)


@pytest.mark.parametrize("vf, ron", [(0.7, 10.0), (0.3, 0.0), (2.0, 100.0)])
def test_pwl_stand_in_drops_vf_plus_ron_at_1ma(
    vf: float, ron: float, tmp_path: Path, ngspice_available
) -> None:
    c = Circuit("pwl stand-in")
    c.add_current_source("i1", "0", "a", 1e-3)
    c.add_diode("d1", "a", "0", PWLDiode(vf=vf, ron=ron))
    c.add_resistor("rleak", "a", "0", resistance=1e15)  # two connections at a
    v = ngspice_op(c.to_spice(), tmp_path)
    assert v["a"] == pytest.approx(vf + ron * 1e-3, rel=1e-6)


def test_ideal_stand_in_behaves_like_an_ideal_diode(tmp_path: Path, ngspice_available) -> None:
    """Forward: a drop of a few mV; reverse: no current. Several in one circuit."""
    c = Circuit("ideal stand-ins")
    c.add_voltage_source("v1", "in", "0", 5.0)
    c.add_voltage_source("v2", "neg", "0", -5.0)
    for k in range(4):  # four forward, four reverse
        c.add_resistor(f"rf{k}", "in", f"f{k}", resistance=1e3 * (k + 1))
        c.add_diode(f"df{k}", f"f{k}", "0", IdealDiode())
        c.add_resistor(f"rr{k}", "neg", f"r{k}", resistance=1e3 * (k + 1))
        c.add_diode(f"dr{k}", f"r{k}", "0", IdealDiode())
    v = ngspice_op(c.to_spice(), tmp_path)
    for k in range(4):
        assert 0 < v[f"f{k}"] < 0.02  # conducting: nearly a short
        assert v[f"r{k}"] == pytest.approx(-5.0, abs=1e-6)  # blocking: no current
