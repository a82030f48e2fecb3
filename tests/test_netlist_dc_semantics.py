"""DC semantics of real netlists, each case checked against `ngspice -b` on the
same text: sources in every written form (and their t=0 values), C open, L
shorts, ngspice's level-1 diode parameters and temperatures, parallel and
loop diodes, extreme resistance ratios, dialect spellings.

The truth is ngspice itself running the case's text (with our own `.control`
block appended to print the operating point); the builtin simulator (either
route) and the ngspice backend (which runs what diodenet writes) must both
equal it to 1e-6 V at every node.
"""

from __future__ import annotations

import os
import re
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from diodenet.circuits.netlist import NetlistWarning, parse_netlist
from diodenet.simulators.builtin import BuiltinSimulator
from diodenet.simulators.ngspice import NgspiceSimulator

VOLTS = 1e-6
TIGHT = {"reltol": 1e-9, "vntol": 1e-12, "abstol": 1e-18}


def run_ngspice(text: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """``ngspice -b`` on ``text`` with a probe resistor and a ``.control`` block
    printing the operating point appended."""
    deck = text.rstrip()
    if deck.lower().endswith(".end"):
        deck = deck[:-4]
    deck += ("\nrdiodenet_probe diodenet_probe 0 1\n"
             ".options reltol=1e-9 abstol=1e-18 vntol=1e-12\n"
             ".control\nset numdgt=15\nop\nprint all\n.endc\n.end\n")
    path = tmp / "truth.cir"
    path.write_text(deck, encoding="utf-8")
    return subprocess.run(["ngspice", "-b", str(path)], capture_output=True, text=True,
                          cwd=tmp, env={**os.environ, "HOME": str(tmp)}, timeout=60)


def ngspice_truth(text: str, tmp: Path) -> dict[str, float]:
    out = run_ngspice(text, tmp)
    values = {m.group(1).lower(): float(m.group(2))
              for m in re.finditer(r"^(\S+) = (\S+)$", out.stdout, re.M)}
    assert values.pop("diodenet_probe", None) == 0.0, out.stdout + out.stderr
    return {(k[2:-1] if k.startswith("v(") else k): v for k, v in values.items()
            if "#" not in k}


def read(text: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetlistWarning)
        return parse_netlist(text)


CASES = {
    # sources: DC values in every written form, t=0 values of transient functions
    "source forms": """t
v1 1 0 DC 0 SIN(0 1 1k)
v2 2 0 dc=2
v3 3 0 dc(5)
v4 4 0 ( 9 )
v5 5 0 0V
v6 6 0 sine(0.5 2 10 0 0 30)
v7 7 0 0.7v (PWL 0ns 3.0v 0.1ns 3.0v) (AC 1v)
v8 8 0 AC 1 0 DC 3
r1 1 0 1k
r2 2 0 1k
r3 3 0 1k
r4 4 0 1k
r5 5 0 1k
r6 6 0 1k
r7 7 0 1k
r8 8 0 1k
.end
""",
    "t=0 values": """t
v1 1 0 SIN(0.5 2 10 0.1 0 30)
v2 2 0 PULSE(1 2 0 1n 1n 5n 10n)
v3 3 0 pwl(1m 0.7 2e-3 2)
v4 4 0 pwl(-1 1 1 3)
v5 5 0 exp(0.3 1 0 1n 2n 3n)
v6 6 0 sffm(0.2 1 10 2 3 30 60)
v7 7 0 am(1 0.4 1k 10k 0)
v8 8 0 SIN 0V 10V 60HZ
i1 0 9 pulse(2m 3m 0 1n)
r1 1 0 1k
r2 2 0 1k
r3 3 0 1k
r4 4 0 1k
r5 5 0 1k
r6 6 0 1k
r7 7 0 1k
r8 8 0 1k
r9 9 0 1k
.end
""",
    "ac-only sources": """t
v1 1 0 AC 1
v2 2 0 ac 1 90 dc 2
v3 4 0 distof1 0.1 dc 1.5
i1 0 3 AC 1m
r1 1 3 2k
r2 2 3 1k
r3 3 0 1k
r4 4 3 3k
.end
""",
    "capacitor open, inductor short": """t
v1 1 0 5
r1 1 2 1k
r2 2 0 1k
c1 2 0 1u
l1 2 3 1m
r3 3 0 2k
c2 3 4 1n
r4 4 0 1k
.end
""",
    "ikf isr nr ikr": """t
v1 1 0 5
r1 1 2 1k
d1 2 0 dd
v2 3 0 -5
r2 3 4 1k
d2 4 0 dd
.model dd d(is=6.2e-9 n=1.92 rs=.34 ikf=42m ikr=1m m=.1 vj=9.99 isr=11.5e-9 nr=4.99)
.end
""",
    "area, m, breakdown": """t
v1 1 0 2
r1 1 2 100
d1 2 0 dd area=3 m=2
v2 3 0 -10
r2 3 4 1k
d2 0 4 dz 2
.model dd d(is=1e-14 rs=10 ikf=1m)
.model dz d(is=1e-12 bv=5 ibv=1u n=1.5)
.end
""",
    "temperatures": """t
.temp 80
v1 1 0 2
r1 1 2 1k
d1 2 0 dd
r2 1 3 1k
d2 3 0 dd dtemp=10
r3 1 4 1k
d3 4 0 dd temp=0
r4 1 5 1k
d4 5 0 dt
.model dd d(is=1e-14 rs=1 xti=2 eg=1.2 n=1.3 isr=1e-10 tnom=30 bv=10 tcv=0.01 trs1=1m)
.model dt d(is={1e-16*temper})
.end
""",
    "tbv1 and tbv2, which ngspice ignores": """t
.temp 100
v1 0 1 10
r1 1 2 1k
d1 2 0 dz
.model dz d(bv=5 ibv=1u tbv1=0.01 tbv2=1e-4)
.end
""",
    "options gmin": """t
.options gmin=1e-4
v1 0 1 5
r1 1 2 100k
d1 2 0 dd
v2 3 0 1
r2 3 4 1k
d2 4 0 dd
.model dd d(is=1e-14)
.end
""",
    "options rshunt": """t
.options rshunt=1e4
v1 1 0 2
r1 1 2 1k
d1 2 3 dd
r2 3 0 10k
.model dd d(is=1e-14 n=1.2)
.end
""",
    "options temp": """t
.options temp=50 tnom=20
v1 1 0 2
r1 1 2 1k
d1 2 0 dd
.model dd d(is=1e-14 n=1.1)
.end
""",
    # ngspice: a .temp card outranks .options temp=, whichever comes first
    ".temp outranks options temp": """t
.temp 50
v1 1 0 2
r1 1 2 5k
d1 2 0 dd
.model dd d(is=0.1p rs=16 n=1.5)
.options temp=70
.end
""",
    # a resistor's temperature coefficients, instance temperature and multipliers
    "resistor tc, m, scale": """t
.temp 80
v1 1 0 2
r1 1 2 1k tc1=3e-3 tc2=1e-5
r2 2 0 2k m=2
r3 2 3 500 tce=0.5
r4 3 0 1k temp=50 tc1=1e-3
r5 3 4 1k dtemp=20 tc1=2e-3 scale=2
d1 4 0 dd
.model dd d(is=1e-14)
.end
""",
    "parallel and anti-parallel diodes": """t
v1 1 0 3
r1 1 2 1k
d1 2 3 dd
d2 2 3 dd
d3 3 0 dd
d4 0 3 dd
.model dd d(is=1e-14)
.end
""",
    "diode loop with a source": """t
vcc n1 0 5
vin n3 0 1
r1 n3 n2 1k
r2 n2 n1 3.3k
r3 0 n2 3.3k
d1 n2 n1 dd
d2 0 n2 dd
.model dd d(is=4e-10 n=1.48)
.end
""",
    "1e-13 ohm in series with 1k": """t
v1 1 0 1
r1 1 2 1e-13
r2 2 0 1k
.end
""",
    "1e-12 and 1e12 ohms": """t
v1 1 0 1
r1 1 2 1e-12
r2 2 3 1e12
r3 3 0 1e12
r4 2 0 1k
.end
""",
    "1e300 ohm divider": """t
v1 1 0 1
r1 1 2 1e300
r2 2 0 1e300
.end
""",
    "dangling terminals": """t
v1 1 0 1
r1 1 0 1k
r2 1 2 1k
d1 1 3 dd
.model dd d
.end
""",
    "func and conditionals": """t
.func half(x) {x/2}
.func pick(a, b) {a > b ? a : b}
.param r0 = {pick(1k, 2k)}
.param big = {r0 >= 2k && r0 != 3k}
v1 1 0 {half(4)}
r1 1 2 {r0}
r2 2 0 {big ? 1k : 5k}
r3 2 0 {!(1 == 1) ? 7k : 3k}
.end
""",
    # ngspice 39 lets a .func stand for a built-in function of that name
    "func named like a built-in": """t
.func sin(x) = {x*2}
.func sqr(x) {x*x*x}
v1 1 0 {sin(3)}
r1 1 2 {sqr(2)*1k}
r2 2 0 {asin(0.5)*1k + 7 % 4 * 100 + (-2)^3}
.end
""",
    # a scope's parameters: the last definition of a name counts everywhere in
    # it (also before it, and on the same card), in the order they depend on
    # each other; functions likewise, and local to their subcircuit; a value
    # given on the instance line outranks the body's .param of that name
    "param scope": """t
.param b = 1k
.param a = {b*2} c = {d+b}
.param b = 3k
.param d = {f(1k)}
.func f(x) = {x*2}
.func f(x) = {x*3}
v1 n0 0 1
r1 n0 n1 {a}
r2 n1 n2 {b}
r3 n2 0 {c}
.end
""",
    "subcircuit scope": """t
.param g = 1k
.func f(x) = {x*2}
.subckt s a b params: r=1k
.param r = 5k
.param g = 3k
.func f(x) = {x*3}
r1 a b {r}
r2 a b {g}
r3 a b {f(1k)}
.ends
v1 n0 0 1
r0 n0 n1 {f(1k)}
x1 n1 n2 s r=2k
r4 n2 n3 {g}
x2 n3 n4 s
r5 n4 0 {f(1k)}
.end
""",
    # a subcircuit's .param reading its own name reads the enclosing value
    "outer value": """t
.param g = 1k
.subckt s a b
.param g = {g*2}
r1 a b {g}
.ends
v1 n0 0 1
x1 n0 n1 s
r2 n1 0 {g}
.end
""",
    # ... also where the subcircuit's header declares the name (ngspice: g = 2k)
    "outer value over the header": """t
.param g = 1k
.subckt s a g=3k
.param g = {g*2}
r1 a 0 {g}
.ends
v1 n1 0 1
r0 n1 n2 1k
x1 n2 s
.end
""",
    # a subcircuit is resolved in the scope it is called from: the caller's
    # parameters (over the top level's) reach its body, its header defaults
    # and a body .param reading its own name, through any depth of calls;
    # its own header parameter still shadows the caller's
    "called scope": """t
.param r = 1k
.subckt leaf a b
r1 a b {r}
.ends
.subckt leafh a b rr={r*2}
r1 a b {rr}
.ends
.subckt leafself a b
.param r = {r*2}
r1 a b {r}
.ends
.subckt leafown a b r=5k
r1 a b {r}
.ends
.subckt mid a b
x1 a b leaf
.ends
.subckt outer a b
.param r = 3k
x1 a m1 leaf
x2 m1 m2 leafh
x3 m2 m3 leafself
x4 m3 m4 mid
x5 m4 b leafown
r2 m2 0 7k
r3 m4 0 11k
.ends
v1 n0 0 1
r0 n0 n1 1k
x0 n1 n2 outer
r9 n2 0 2k
x9 n2 0 leaf
.end
""",
    # a header default is resolved with the body's .param cards: it reads the
    # body's r (ngspice: 20k), not the caller's
    "header default reads the body": """t
.param r = 1k
.subckt leaf a b rr={r*2} k={rr/1k}
.param r = 10k
r1 a b {rr}
r2 a b {r*k/20}
.ends
v1 n0 0 1
r0 n0 n1 1k
x1 n1 0 leaf
x2 n1 0 leaf rr=3k
.end
""",
    # a .func is seen where it is written: by its own body and the subcircuits
    # defined inside it (inner sees outer's f), not by the subcircuits that body
    # calls (leaf sees the top level's f, not its caller's); a body's own .func
    # shadows the top level's (own's f), for the functions a .func calls too (h
    # calls the top level's f, even from own), and for a top-level .model card
    # (dd's is uses the top level's f, also for own's d1); a call the .func's
    # scope lacks is the caller's (h's j is own's); parameters in a .func are
    # read where it is called (g's k is outer's in leaf); a .param f and a
    # .func f are two things
    "func scope": """t
.param k = 1k
.param f = 5k
.func f(x) = {x*2}
.func g(x) = {x*k}
.func h(x) = {f(x)+j(x)}
.model dd d(is={f(1e-14)})
.subckt leaf a b
r1 a b {f(1k)}
r2 b 0 {g(1)}
.ends
.subckt own a b
.func f(x) = {x*3}
.func j(x) = {x*5}
r1 a b {f(1k)}
r2 b 0 {h(1k)}
d1 a 0 dd
.ends
.subckt outer a b
.param k = 3k
.func f(x) = {x*7}
.subckt inner a b
r1 a b {f(1k)}
.ends
x1 a m leaf
x2 m n inner
x3 n b own
r3 m 0 {f(1k)}
.ends
v1 n0 0 10
r0 n0 n1 {f}
x0 n1 n2 outer
r9 n2 0 {f(1k)}
.end
""",
    "vcvs gain keyword": """t
v1 a 0 1
r1 a 0 1k
e1 b 0 a 0 gain=2
r2 b 0 1k
.end
""",
    # two operating points (V(a) = 0 and 0.662 V): Newton finds ngspice's only
    # from ngspice's start, every junction at its critical voltage
    "positive feedback": """bistable
e1 b 0 a 0 4
r1 b a 1k
r2 a 0 1k
d1 a 0 dm
.model dm D(is=1e-14)
.end
""",
    # ngspice reads a resistance of 0 (however written) as 1 mOhm, before m
    # divides it, and m=0 leaves a resistor open: b = 1/1.001, c = 1/1.0005
    "zero resistance": """t
.param z=0
v1 a 0 1
r1 a b 0
r2 b 0 1
r3 a c {z*5} m=2
r4 c 0 1
r5 a d r=0
r6 d 0 2
r7 a e 1 m=0
r8 a e 1
r9 e 0 1
.end
""",
    # the first .model card of a name is the one used, at the top level and
    # inside a subcircuit (is=1e-14, not 1e-10)
    "duplicate model names": """t
.model dm D(is=1e-14)
.model dm D(is=1e-10)
.subckt s a b
.model dl D(is=1e-14 n=2)
.model dl D(is=1e-10)
r1 a b 1k
d1 b 0 dl
.ends
v1 1 0 1
r1 1 2 1k
d1 2 0 dm
x1 1 3 s
.end
""",
    # .ends closes the innermost open .subckt, whatever name it gives: r2 and
    # x9 belong to outer (1k || 2k between a and b)
    "ends naming another subcircuit": """t
.subckt outer a b
.subckt inner c d
r1 c d 1k
.ends outer
r2 a b 2k
x9 a b inner
.ends inner
v1 1 0 1
x1 1 2 outer
r3 2 0 1k
.end
""",
    # an instance value for a name the subcircuit does not have is ignored
    # (q); a body .param is a parameter an instance may set (rb)
    "instance parameters": """t
.subckt s a b rr=1k
r1 a b {rr}
.ends
.subckt u a b
.param rb=1k
r1 a b {rb}
.ends
v1 1 0 1
x1 1 2 s q=3 rr=3k
r2 2 0 1k
x2 1 3 u rb=4k
r3 3 0 1k
.end
""",
    # the title is no card: a '+' line after it (comments between) is ignored
    "continuation after the title": """t
* a comment
+ v1 1 0 5
v1 1 0 1
r1 1 2 1k
r2 2 0 3k
.end
""",
    # ngspice floors a model's IS at 1e-28 before area and temperature: at
    # area=1e6 the junction carries microamperes
    "saturation current floor": """t
v1 1 0 1
r1 1 2 1k
d1 2 0 d0 area=1e6
r2 1 3 1k
d2 3 0 dn area=1e6
.model d0 D(is=0)
.model dn D(is=-1e-14)
.end
""",
    "dialects": """t // ngspice comment style
.param rr=1k
.csparam rcs={rr*3}
v1 in 0 1 $ inline
r1 in out {rr} // another comment
r2 out 0 {rr*2}
.backanno
.step param rr 1k 2k 1k
.end
""",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_both_backends_equal_ngspice(name: str, tmp_path: Path,
                                     ngspice_available: None) -> None:
    text = CASES[name]
    # ngspice 39 reads neither LTspice's .backanno/.step nor a positional AREA
    truth = ngspice_truth(text.replace(".backanno\n", "").replace(
        ".step param rr 1k 2k 1k\n", "").replace("dz 2\n", "dz area=2\n"), tmp_path)
    circuit = read(text)
    ours = BuiltinSimulator(circuit).operating_points()
    with NgspiceSimulator(circuit, options=TIGHT) as sim:
        theirs = sim.operating_points()
    for label, op in (("builtin", ours), ("ngspice backend", theirs)):
        got = {n: float(op.voltages[0][op.nodes.index(n)]) for n in circuit.nodes}
        assert set(got) == set(truth), (label, sorted(got), sorted(truth))
        for node, v in got.items():
            assert abs(v - truth[node]) <= VOLTS * max(1.0, abs(truth[node])), \
                (name, label, node, v, truth[node])


# where ngspice refuses a .func as "Undefined parameter": (text, line, problem)
FUNC_REFUSALS = {
    # a subcircuit does not see the .func of the body that calls it: not in an
    # element's value, its header's defaults or its .param cards
    "caller's function": ("""t
.subckt leaf a b
r1 a b {f(1k)}
.ends
.subckt outer a b
.func f(x) = {x*3}
x1 a b leaf
.ends
v1 n0 0 1
r0 n0 n1 1k
x0 n1 0 outer
.end
""", 3, r"r1 value: unknown function 'f'"),
    "caller's function in a header default": ("""t
.subckt leaf a b rr={f(1k)}
r1 a b {rr}
.ends
.subckt outer a b
.func f(x) = {x*3}
x1 a b leaf
.ends
v1 n0 0 1
r0 n0 n1 1k
x0 n1 0 outer
.end
""", 2, r"\.subckt: unknown function 'f'"),
    "caller's function in a .param": ("""t
.subckt leaf a b
.param q = {f(1k)}
r1 a b {q}
.ends
.subckt outer a b
.func f(x) = {x*3}
x1 a b leaf
.ends
v1 n0 0 1
r0 n0 n1 1k
x0 n1 0 outer
.end
""", 3, r"\.param: unknown function 'f'"),
    # g, found where f is called, is expanded there: its y is no argument
    "argument of the calling function": ("""t
.func f(y) = {g(1)}
.subckt leaf a b
.func g(x) = {x+y}
r1 a b {f(5)*1k}
.ends
v1 n0 0 1
r0 n0 n1 1k
x1 n1 0 leaf
.end
""", 5, r"r1 value: 'y' in '\{x\+y\}' is an argument of a \.func calling this one"),
}


@pytest.mark.parametrize("name", sorted(FUNC_REFUSALS))
def test_func_scope_refusals_match_ngspice(name: str, tmp_path: Path,
                                           ngspice_available: None) -> None:
    from diodenet.circuits.netlist import NetlistError

    text, line, problem = FUNC_REFUSALS[name]
    out = run_ngspice(text, tmp_path)
    assert "diodenet_probe = " not in out.stdout, out.stdout
    assert "Undefined parameter" in out.stdout + out.stderr, out.stdout + out.stderr
    with pytest.raises(NetlistError, match=rf"^line {line}: {problem}"):
        read(text)


def test_a_func_reading_an_argument_of_its_caller_is_refused(tmp_path: Path,
                                                            ngspice_available: None) -> None:
    """ngspice substitutes a .func's arguments as text: g's x becomes f's or
    c's argument depending on the order of the .func cards (8k one way, 3k
    the other); diodenet refuses it rather than pick one."""
    from diodenet.circuits.netlist import NetlistError

    cards = {"f": ".func f(x) = {g(1)}", "g": ".func g(z) = {z+x}", "c": ".func c(x) = {f(2)}"}
    answers = set()
    for order in ("fgc", "cfg"):
        text = "t\n" + "\n".join(cards[k] for k in order) + \
            "\nv1 n0 0 1\nr0 n0 n1 1k\nr1 n1 0 {c(7)*1k}\n.end\n"
        answers.add(round(ngspice_truth(text, tmp_path)["n1"], 6))
        with pytest.raises(NetlistError, match=r"^line 7: r1 value: 'x' in '\{z\+x\}' is an "
                                               r"argument of a \.func calling this one"):
            read(text)
    assert answers == {round(8 / 9, 6), 0.75}


def test_routes_are_named() -> None:
    plain = BuiltinSimulator(read(CASES["dangling terminals"])).operating_points()
    assert plain.route == "kernel"
    knee = BuiltinSimulator(read(CASES["ikf isr nr ikr"])).operating_points()
    assert knee.route == "nodal"
    sim = BuiltinSimulator(read(CASES["options rshunt"]))
    assert sim.operating_points().route == "nodal"
    assert sim.fallback_reason.startswith(".options rshunt=10000 is outside the kernel"), \
        sim.fallback_reason
    # gmin is a conductance across each junction in the kernel's network
    assert BuiltinSimulator(read(CASES["options gmin"])).operating_points().route == "kernel"


def test_inductor_current_is_reported_like_a_zero_volt_source() -> None:
    c = read(CASES["capacitor open, inductor short"])
    op = BuiltinSimulator(c).operating_points()
    # v(2) = 5 * (1k || 2k) / (1k + 1k || 2k) = 2 V; i(l1) = 2 V / 2k
    i = op.source_currents[0][op.sources.index("l1")]
    np.testing.assert_allclose(i, 1e-3, rtol=1e-12)


def test_extreme_ratios_match_closed_forms() -> None:
    op = BuiltinSimulator(read(CASES["1e300 ohm divider"])).operating_points()
    assert op.voltages[0][op.nodes.index("2")] == pytest.approx(0.5, rel=1e-12)
    op = BuiltinSimulator(read(CASES["1e-13 ohm in series with 1k"])).operating_points()
    assert op.voltages[0][op.nodes.index("2")] == pytest.approx(1 - 1e-16, abs=1e-15)


def test_rser_is_a_series_resistance() -> None:
    c = read("t\nv1 a 0 10 Rser=1k\nr1 a 0 1k\nc1 a 0 1µ Rser=5\n")
    op = BuiltinSimulator(c).operating_points()
    assert op.voltages[0][op.nodes.index("a")] == pytest.approx(5.0, rel=1e-12)


def test_xyce_spellings() -> None:
    """Xyce's .global_param and .options device temp= read as ngspice's .param and
    .options temp= (the "options temp" case is checked against ngspice)."""
    body = "v1 a 0 1\nr1 a b {g}\nd1 b 0 dd\n.model dd d(is=1e-14 n=1.1)\n"
    c = read("t\n.global_param g=2k\n.options device temp=50 tnom=20\n" + body)
    ng = read("t\n.param g=2k\n.options temp=50 tnom=20\n" + body)
    assert c["r1"].resistance == 2000.0
    assert c["d1"].model == ng["d1"].model
    assert c["d1"].model != read("t\n.param g=2k\n" + body)["d1"].model


def test_micro_sign_reads_as_micro() -> None:
    c = read("t\nv1 a 0 1\nr1 a 0 1\u00b5\nl1 a b 5\u03bcH\nr2 b 0 1\n")
    assert c["r1"].resistance == pytest.approx(1e-6)


def test_ltspice_piecewise_linear_diode() -> None:
    """LTspice's Ron/Roff/Vfwd/Vrev/Rrev diode, by its closed form: i = v/Roff
    between -Vrev and Vfwd, slope 1/Ron above Vfwd and 1/Rrev below -Vrev."""
    text = ("t\nv1 a 0 1\nr1 a b 1\nd1 b 0 pw\n"
            ".model pw D(Ron=2 Roff=1k Vfwd=0.5 Vrev=3 Rrev=4)\n")
    sim = BuiltinSimulator(read(text))

    def diode_current(v: float) -> float:
        if v > 0.5:
            return 0.5 / 1e3 + (v - 0.5) / 2
        if v < -3:
            return -3 / 1e3 + (v + 3) / 4
        return v / 1e3

    for vin in (-10.0, -2.0, 0.3, 5.0):
        op = sim.operating_points(np.array([[vin]]), ["v1"])
        vb = op.voltages[0][op.nodes.index("b")]
        assert (vin - vb) / 1.0 == pytest.approx(diode_current(vb), rel=1e-9, abs=1e-12)


def test_ac_parts_are_ignored_with_a_note_and_ac_alone_is_zero() -> None:
    """ngspice's .op takes a source written with only an AC part as 0 (V or A)."""
    with pytest.warns(NetlistWarning) as record:
        c = parse_netlist("t\nv1 1 0 AC 1\ni1 0 1 ac 2m 45\nr1 1 0 1k\n")
    assert c["v1"].dc == 0.0 and c["i1"].dc == 0.0
    assert [(w.message.line, w.message.problem) for w in record] == [  # type: ignore[union-attr]
        (2, "v1: ac part ignored (DC operating point)"),
        (2, "v1: no DC value given; 0 used, as ngspice does"),
        (3, "i1: ac part ignored (DC operating point)"),
        (3, "i1: no DC value given; 0 used, as ngspice does"),
    ]


def test_pspice_breakdown_coefficients_are_ignored_as_ngspice_ignores_them() -> None:
    """TBV1/TBV2 are not ngspice's (it warns and drops them; its coefficient is
    TCV): not read as TCV, and said so in a note."""
    with pytest.warns(NetlistWarning, match=r"'tbv1' ignored, as ngspice does"):
        c = parse_netlist("t\n.temp 100\nv1 0 1 10\nr1 1 2 1k\nd1 2 0 dz\n"
                          ".model dz d(bv=5 tbv1=0.01)\n")
    assert c["d1"].model.bv == 5.0  # type: ignore[union-attr]


@pytest.mark.parametrize("card, line", [(".temp -300", 2), (".options temp=-273.15", 2),
                                        ("d2 2 0 dd temp=-280", 2)])
def test_a_temperature_at_or_below_absolute_zero_is_refused_on_its_line(card: str,
                                                                     line: int) -> None:
    from diodenet.circuits.netlist import NetlistError

    with pytest.raises(NetlistError, match=rf"line {line}: .*absolute zero"):
        read(f"t\n{card}\nv1 1 0 2\nr1 1 2 5k\nd1 2 0 dd\n.model dd d(is=1e-14)\n.end\n")


def test_parameters_defined_in_terms_of_themselves_are_refused_on_their_line() -> None:
    """ngspice stops with a fatal error; diodenet names the cycle and the card."""
    from diodenet.circuits.netlist import NetlistError

    with pytest.raises(NetlistError, match=r"line 3: .*themselves: b -> a -> b"):
        read("t\n.param b = 1k\n.param a = {b*2}\n.param b = {a}\nv1 1 0 1\nr1 1 0 {a}\n")
    # with no enclosing value to read: ngspice's Formula() error
    with pytest.raises(NetlistError, match=r"line 3: .*themselves: r -> r"):
        read("t\n.subckt s a b params: r=1k\n.param r = {r*2}\nr1 a b {r}\n.ends\n"
             "v1 n0 0 1\nx1 n0 n1 s\nr2 n1 0 1k\n")


# what diodenet reads as ngspice does, each said in one note: (text, (line, note))
NGSPICE_READINGS = {
    "zero resistance": ("t\nv1 a 0 1\nr1 a b 0\nr2 b 0 1k\n",
                        (3, "r1: resistance 0 read as 1 mOhm, as ngspice does")),
    "resistor m=0": ("t\nv1 a 0 1\nr1 a 0 1k\nr2 a 0 1k m=0\n",
                     (4, "r2: m=0 leaves the resistor open (no conductance), as in ngspice")),
    "duplicate model": ("t\nv1 a 0 1\nr1 a b 1k\nd1 b 0 dm\n.model dm D(is=1e-14)\n"
                        ".model dm D(is=1e-10)\n",
                        (6, "second .model 'dm' ignored: the first (line 5) is used, as "
                            "ngspice does")),
    "ends name": ("t\n.subckt s a b\nr1 a b 1k\n.ends q\nv1 1 0 1\nx1 1 0 s\n",
                  (4, "'.ends q' closes '.subckt s' (the innermost open one, whatever the "
                      "name), as in ngspice")),
    "instance parameter": ("t\n.subckt s a b r=1k\nr1 a b {r}\n.ends\nv1 1 0 1\n"
                           "x1 1 0 s q=3\n",
                           (6, "x1: subcircuit 's' has no parameter 'q'; q= ignored, as "
                               "ngspice does")),
    "continuation after the title": ("t\n\n+ r9 1 0 1\nv1 1 0 1\nr1 1 0 1k\n",
                                     (3, "continuation line '+' after the title ignored: the "
                                         "title is not a card, and ngspice ignores the line "
                                         "too")),
    "saturation current floor": ("t\nv1 a 0 1\nr1 a b 1k\nd1 b 0 dm\n.model dm D(is=0)\n",
                                 (5, "model 'dm': is=0 read as 1e-28, ngspice's smallest "
                                     "saturation current, as ngspice does")),
}


@pytest.mark.parametrize("name", sorted(NGSPICE_READINGS))
def test_what_is_read_as_ngspice_reads_it_is_said_in_one_note(name: str) -> None:
    text, expected = NGSPICE_READINGS[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NetlistWarning)
        parse_netlist(text)
    notes = [(w.message.line, w.message.problem) for w in caught  # type: ignore[union-attr]
             if isinstance(w.message, NetlistWarning)]
    assert notes == [expected]


def test_a_model_card_or_instance_in_a_subcircuit_is_noted_once() -> None:
    """A subcircuit expanded many times says what it ignores once, on its line."""
    text = ("t\n.subckt s a b r=1k\n.model dm D(is=1e-14)\n.model dm D(is=1e-10)\n"
            "r1 a b {r}\nd1 b 0 dm\n.ends\n.subckt w a\nx1 a 0 s q=2\n.ends\nv1 1 0 1\n"
            + "".join(f"x{k} 1 w\n" for k in range(3, 9)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NetlistWarning)
        c = parse_netlist(text)
    assert sorted(w.message.line for w in caught) == [4, 9]  # type: ignore[union-attr]
    assert c["d.x3.x1.d1"].model.is_ == 1e-14  # type: ignore[union-attr]


def test_a_continuation_line_first_in_an_included_file_is_still_refused() -> None:
    """Only the netlist's own first line is a title: after it a '+' line is
    ignored, while one opening an included file continues no card there."""
    from diodenet.circuits.netlist import NetlistError

    text = "t\n+ r9 1 0 1\n.include ok.inc\nv1 1 0 1\nr1 1 0 1k\n"
    assert [e.name for e in read(text.replace(".include ok.inc\n", ""))] == ["v1", "r1"]
    with pytest.raises(NetlistError, match=r"^line 3: in 'ok.inc' line 1: continuation line "
                                           r"'\+' with no card before it$"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", NetlistWarning)
        parse_netlist(text, includes={"ok.inc": "+ r8 1 0 1\n"})
