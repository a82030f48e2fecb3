"""Round trip: Circuit.from_spice(c.to_spice()) == c, over random circuits."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diodenet import Circuit
from diodenet.circuits import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    CurrentSource,
    Diode,
    Gyrator,
    IdealDiode,
    PWLDiode,
    Resistor,
    ShockleyDiode,
    Transformer,
    VoltageSource,
)
from diodenet.circuits.netlist import NetlistError, spice_diode_model
from diodenet.utils.unionfind import UnionFind

# Every finite float, tiny (subnormal) and huge ones included.
anyfloat = st.floats(allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=0.0, exclude_min=True, allow_infinity=False)
#: a resistance whose conductance 1/R is a float too (1/5.6e-309 < 1.8e308)
resistances = st.floats(min_value=5.6e-309, allow_infinity=False)
nonneg = st.floats(min_value=0.0, allow_infinity=False)
nonzero = anyfloat.filter(lambda x: x != 0.0)
node_names = st.from_regex(r"[a-z][a-z0-9_.\-]{0,5}", fullmatch=True).filter(
    lambda s: s != "gnd"
)
titles = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=40,
)

diode_models = st.one_of(
    st.just(IdealDiode()),
    st.builds(PWLDiode, vf=anyfloat, ron=nonneg),
    st.builds(
        ShockleyDiode, is_=positive, n=positive, rs=nonneg,
        bv=st.none() | positive, ibv=anyfloat, cjo=anyfloat, m=anyfloat, tt=anyfloat,
    ),
)

KINDS = ("r", "d", "v", "i", "e", "f", "g", "h", "xt", "xg")


@st.composite
def circuits(draw: st.DrawFn) -> Circuit:
    c = Circuit(title=draw(titles))
    c.options = draw(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True),
                                     anyfloat, max_size=3))
    nodes = draw(st.lists(node_names, min_size=1, max_size=5, unique=True))
    pool = [*nodes, "0"]
    pick = st.sampled_from(pool)
    shared_models = draw(st.lists(diode_models, max_size=2))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=12))
    kinds.insert(0, "v")  # F and H need a voltage source to sense
    sources: list[str] = []
    voltage_defined = UnionFind[str]()  # no loop of V/E/H/secondaries alone (ngspice: singular)
    for k, kind in enumerate(kinds):
        # "z" ends the index, so names stay distinct whatever the suffix ("r1"+"0" was "r10")
        name = f"{kind[0]}{k}z{draw(st.from_regex(r'[a-z0-9_]{0,3}', fullmatch=True))}"
        trainable = draw(st.booleans())
        two = (draw(pick), draw(pick))
        four = (*two, draw(pick), draw(pick))

        def open_loop(pair: tuple[str, str], k: int = k) -> tuple[str, str]:
            if voltage_defined.join(*pair):
                return pair
            fresh = f"n{k}z"  # a node of its own closes no loop (resistors to ground below)
            nodes.append(fresh)
            voltage_defined.join(pair[0], fresh)
            return pair[0], fresh

        if kind in ("v", "e", "h"):  # the output branch
            two = open_loop(two)
            four = (*two, *four[2:])
        elif kind == "xt":  # the secondary
            four = (*four[:2], *open_loop((four[2], four[3])))
        if kind == "r":
            e = Resistor(name, *two, resistance=draw(resistances), trainable=trainable)
        elif kind == "d":
            choice = draw(st.integers(-1, len(shared_models) - 1))
            if choice >= 0:  # diodes sharing a model name share the model
                e = Diode(name, *two, shared_models[choice], f"dshared{choice}", trainable)
            else:
                e = Diode(name, *two, draw(diode_models), None, trainable)
        elif kind == "v":
            e = VoltageSource(name, *two, draw(anyfloat), trainable)
            sources.append(name)
        elif kind == "i":
            e = CurrentSource(name, *two, draw(anyfloat), trainable)
        elif kind == "e":
            e = VCVS(name, *four, draw(anyfloat), trainable)
        elif kind == "g":
            e = VCCS(name, *four, draw(anyfloat), trainable)
        elif kind == "f":
            e = CCCS(name, *two, draw(st.sampled_from(sources)), draw(anyfloat), trainable)
        elif kind == "h":
            e = CCVS(name, *two, draw(st.sampled_from(sources)), draw(anyfloat), trainable)
        elif kind == "xt":
            e = Transformer(name, *four, draw(nonzero), trainable)
        else:
            e = Gyrator(name, *four, draw(nonzero), trainable)
        c.add(e)
    # Make the topology valid (the reader checks it): every node gets two
    # resistors to ground, so it has two connections and a DC path.
    for i, n in enumerate(nodes):
        c.add_resistor(f"rg{i}a", n, "0", resistance=1e3)
        c.add_resistor(f"rg{i}b", n, "0", resistance=2e3, trainable=False)
    return c


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits())
def test_round_trip_equals(c: Circuit) -> None:
    text = c.to_spice()
    back = Circuit.from_spice(text)
    assert back == c
    assert list(back.elements) == list(c.elements)  # same order
    assert back.to_spice() == text


def test_round_trip_keeps_flags_models_title_options() -> None:
    c = Circuit("  a title with * and .end and ; inside ")
    c.options = {"reltol": 1e-9, "abstol": 1e-18}
    c.add_voltage_source("v1", "in", "0", 1.5, trainable=True)
    c.add_resistor("r1", "in", "a", conductance=3e-3)
    c.add_resistor("r2", "a", "0", resistance=5.6e-309, trainable=False)
    c.add_diode("d1", "a", "0", IdealDiode())
    c.add_diode("d2", "a", "0", PWLDiode(vf=0.3, ron=0.0), model_name="Dpwl")
    c.add_diode("d3", "a", "0", PWLDiode(vf=-1.0, ron=2.0))
    c.add_diode("d4", "a", "0", ShockleyDiode(is_=1e-300, n=1e300, bv=5.0))
    text = c.to_spice()
    assert text.splitlines()[0] == c.title and text.endswith(".end\n")
    assert "*@diodenet trainable v1" in text and "*@diodenet fixed r2" in text
    assert "*@diodenet model dpwl pwl vf=0.3 ron=0.0" in text
    firsts = {line.split()[0] for line in text.splitlines()[1:] if line.strip()}
    assert not firsts & {".op", ".tran", ".dc", ".ac", ".control"}  # no analysis cards
    back = Circuit.from_spice(text)
    assert back == c
    assert back["r1"].resistance == 1.0 / 3e-3  # exactly the stored float
    assert back["d2"].model == PWLDiode(vf=0.3, ron=0.0)


def test_shared_model_name_with_different_models_is_refused_by_the_writer() -> None:
    c = Circuit()
    c.add_voltage_source("v1", "a", "0", 1.0)
    c.add_diode("d1", "a", "0", IdealDiode(), model_name="dm")
    c.add_diode("d2", "a", "0", PWLDiode(0.7, 1.0), model_name="dm")
    with pytest.raises(ValueError, match="share the model name 'dm'"):
        c.to_spice()


def test_writer_refuses_multiline_title_and_bad_option_names() -> None:
    c = Circuit("two\nlines")
    with pytest.raises(ValueError, match="one line"):
        c.to_spice()
    c = Circuit("ok")
    c.options = {"bad name": 1.0}
    with pytest.raises(ValueError, match="not an identifier"):
        c.to_spice()


def test_edited_stand_in_model_is_read_as_written() -> None:
    c = Circuit("t")
    c.add_voltage_source("v1", "a", "0", 1.0)
    c.add_resistor("r1", "a", "b", resistance=1e3)
    c.add_diode("d1", "b", "0", IdealDiode())
    text = c.to_spice().replace("N=0.02", "N=0.05")
    with pytest.warns(UserWarning, match="edited"):
        back = Circuit.from_spice(text)
    assert back["d1"].model == ShockleyDiode(is_=1e-14, n=0.05)


def test_stand_in_models_are_sane() -> None:
    """The Shockley stand-ins: ideal drops ~13 mV at 1 mA; PWL drops vf at 1 mA."""
    vt = 1.38064852e-23 * 300.15 / 1.6021766208e-19  # kT/q as ngspice 39 has it
    ideal = spice_diode_model(IdealDiode())
    drop = ideal.n * vt * math.log(1e-3 / ideal.is_)
    assert 0 < drop < 0.02
    for vf in (0.2, 0.45, 0.7, 1.0, 3.0, 50.0):
        m = spice_diode_model(PWLDiode(vf=vf, ron=7.0))
        assert m.rs == 7.0
        # junction drop at 1 mA (closed form of the Shockley equation)
        assert m.n * vt * math.log1p(1e-3 / m.is_) == pytest.approx(vf, rel=1e-12)
        assert 1e-20 < m.is_ < 1e-6
    assert spice_diode_model(PWLDiode(vf=0.7, ron=0)).n == 1.0
    absurd = spice_diode_model(PWLDiode(vf=1.7e308, ron=0.0))  # finite, no overflow
    assert math.isfinite(absurd.n) and absurd.is_ > 0
    tiny = spice_diode_model(PWLDiode(vf=-2.0, ron=3.0))
    assert (tiny.is_, tiny.n, tiny.rs) == (ideal.is_, ideal.n, 3.0)


def test_not_a_circuit_is_not_accepted_silently() -> None:
    with pytest.raises(NetlistError):
        Circuit.from_spice("only a title\nthis is not a card\n")
