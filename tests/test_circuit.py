import pytest

from diodenet import Circuit, CircuitError
from diodenet.circuits import Resistor


def test_names_are_case_insensitive_and_duplicates_rejected():
    c = Circuit()
    c.add_resistor("R1", "A", "0", resistance=1e3)
    assert "r1" in c and c["R1"].n1 == "a"
    with pytest.raises(CircuitError, match="duplicate"):
        c.add_resistor("r1", "b", "0", resistance=1.0)


def test_conductance_and_resistance_are_one_parameter():
    r = Resistor("R1", "a", "b", conductance=2e-3)
    assert r.resistance == pytest.approx(500.0) and r.g == pytest.approx(2e-3)
    with pytest.raises(ValueError, match="resistance must be > 0"):
        Resistor("R2", "a", "b", resistance=-1.0)
    with pytest.raises(ValueError, match="start with 'R'"):
        Resistor("Q1", "a", "b", resistance=1.0)


def test_topology_problems_found():
    c = Circuit()
    c.add_voltage_source("V1", "in", "0", 1.0)
    c.add_resistor("R1", "in", "dangling", resistance=1e3)
    assert c.topology_problems() == []  # SPICE solves it: V(dangling) = V(in)
    c.add_current_source("I1", "in", "nowhere", 1e-3)
    msgs = [p.message for p in c.topology_problems()]
    assert any("only one connection: the current source has nowhere to go" in m for m in msgs)
    c2 = Circuit()
    c2.add_voltage_source("V1", "in", "0", 1.0)
    c2.add_resistor("R1", "in", "0", resistance=1e3)
    c2.add_resistor("R2", "a", "b", resistance=1e3)
    c2.add_resistor("R3", "a", "b", resistance=1e3)
    with pytest.raises(CircuitError, match="no DC path to ground"):
        c2.validate()


def test_set_conductances_equals_a_validated_replace_and_refuses_what_it_refuses() -> None:
    """The fast path of ``set_conductances`` gives the elements that
    ``Resistor.replace(conductance=g)`` (full validation) gives, leaves the
    elements it replaced untouched, and passes every refusal to the resistor."""
    import numpy as np

    c = Circuit("rs")
    for k in range(5):
        c.add_resistor(f"R{k}", f"n{k}", "0", resistance=1e3 * (k + 1))
    before = {n: e for n, e in c.elements.items()}
    g = np.random.default_rng(0).uniform(1e-6, 1e-2, 5)
    expect = {f"r{k}": before[f"r{k}"].replace(conductance=float(g[k])) for k in range(5)}
    c.set_conductances(list(g))
    for name, e in expect.items():
        assert c.elements[name] == e and c.elements[name] is not before[name]
        assert before[name].g != e.g  # the old element is not edited in place
    for bad in (0.0, -1e-3, float("nan"), float("inf"), 1e-320):
        with pytest.raises(ValueError, match="r2"):
            c.set_conductances({"r2": bad})
