"""Numbers that would give a silent wrong answer are refused where they are read,
in one line naming the element; a non-finite result is an error, never NaN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from diodenet.circuits import Circuit
from diodenet.circuits.netlist import NetlistError, parse_netlist
from diodenet.circuits.netlist.expressions import ExpressionError, evaluate, parse_number
from diodenet.cli.main import cli


def _net(card: str, extra: str = "") -> str:
    return f"t\nv1 in 0 1\n{card}\nr2 a 0 1k\n{extra}.end\n"


@pytest.mark.parametrize("value", ["1e-310", "2e-323", "1e-309", "5.5e-309", "{1e-308/10}"])
def test_resistance_whose_conductance_overflows_is_refused_naming_it(value: str) -> None:
    with pytest.raises(NetlistError, match=r"^line 3: r1: resistance .* ohm is too small: "
                                           "its conductance 1/R overflows"):
        parse_netlist(_net(f"r1 in a {value}"))


@pytest.mark.parametrize("value", ["5e-324", "1e-323", "-1.5e-323"])
def test_resistance_within_three_ulps_of_zero_is_one_milliohm_as_in_ngspice(value: str) -> None:
    """ngspice's RESparam reads a value within 3 ulps of 0 as 1 mOhm (2e-323,
    4 ulps, is taken as given there, and its conductance overflows)."""
    with pytest.warns(UserWarning, match="r1: resistance 0 read as 1 mOhm"):
        c = parse_netlist(_net(f"r1 in a {value}"))
    assert c["r1"].resistance == 1e-3


@pytest.mark.parametrize("value", ["1e-400", "1e-999999p", "0.00000001e-320"])
def test_numbers_that_underflow_to_zero_are_refused(value: str) -> None:
    with pytest.raises(NetlistError, match=r"^line 3: r1 value: number '.*' underflows to 0"):
        parse_netlist(_net(f"r1 in a {value}"))
    with pytest.raises(NetlistError, match=r"^line 2: v1 dc value: number '.*' underflows to 0"):
        parse_netlist(f"t\nv1 in 0 {value}\nr1 in 0 1k\n.end\n")


@pytest.mark.parametrize(("value", "what"), [
    ("{1e-200*1e-200}", "a product underflows to 0"), ("{0.5^2000}", "a power underflows"),
    ("{1e-300/1e300}", "a quotient underflows"),
])
def test_underflowing_expressions_are_refused(value: str, what: str) -> None:
    with pytest.raises(NetlistError, match=f"^line 3: r1 value: {what}"):
        parse_netlist(_net(f"r1 in a {value}"))


def test_smallest_normal_values_still_read() -> None:
    assert parse_number("2.3e-308") == 2.3e-308 and parse_number("0") == 0.0
    assert parse_number("5e-324") == 5e-324  # every float's repr reads back exactly
    assert evaluate("{1e-150*1e-150}") == pytest.approx(1e-300)
    assert evaluate("{0*1e-300}") == 0.0 and evaluate("{0^2}") == 0.0
    c = parse_netlist(_net("r1 in a 1e-300"))
    assert c["r1"].resistance == 1e-300


def test_resistance_whose_conductance_overflows_is_refused() -> None:
    c = Circuit()
    with pytest.raises(ValueError, match="r1: resistance 5e-309 ohm is too small"):
        c.add_resistor("r1", "a", "0", resistance=5e-309)
    with pytest.raises(ValueError, match="r1 resistance must be finite"):
        c.add_resistor("r1", "a", "0", conductance=5e-309)


@pytest.mark.parametrize(("card", "extra", "where"), [
    ("r1 in a 1e1000000", "", "r1 value"),
    ("r1 in a 1e999999k", "", "r1 value"),
    ("r1 in a {1e1000000}", "", "r1 value"),
    ("r1 in a {1e999999meg}", "", "r1 value"),
    ("r1 in a 1e-1000000", "", "r1 value"),
    ("r1 in a 1e-999999999999999999", "", "r1 value"),
    ("r1 in a 1k", ".options gmin=1e9999999\n", "option gmin"),
    ("r1 in a 1k", ".options reltol=" + "9" * 5000 + "\n", "option reltol"),
    ("r1 in a 1k\nv2 a 0 1e999999meg", "", "v2 dc value"),
    ("r1 in a 1k\ni2 a 0 " + "1" * 100_000, "", "i2 dc value"),
])
def test_huge_numbers_are_one_line_errors(card: str, extra: str, where: str,
                                          tmp_path: Path) -> None:
    text = _net(card, extra)
    with pytest.raises(NetlistError, match=f"{where}: number .* (out of the floating-point "
                                           "range|underflows)"):
        parse_netlist(text)
    p = tmp_path / "n.cir"
    p.write_text(text)
    for args in (["simulate", str(p), "--json"], ["netlist", "check", str(p)]):
        res = CliRunner().invoke(cli, args)
        lines = res.output.splitlines()
        assert res.exit_code == 2 and len(lines) == 1 and str(p) in lines[0], res.output
        assert "Traceback" not in res.output and "decimal" not in res.output.lower()


def test_number_parsing_never_raises_anything_else() -> None:
    for text in ("1e99999999999999999999", "1e-99999999999999999999", "9" * 10_000 + "e9",
                 "1e999999999999999999999999k", ".5e-999999999mil"):
        with pytest.raises(ExpressionError):
            parse_number(text)


def test_non_finite_results_are_errors_not_nan(tmp_path: Path, monkeypatch) -> None:
    """A backend that returns NaN (forced here) gives one line and exit 2, in text and
    in --json; JSON output never holds NaN or Infinity."""
    from diodenet.simulators import builtin

    p = tmp_path / "n.cir"
    p.write_text(_net("r1 in a 1k"))
    real = builtin.BuiltinSimulator.operating_points

    def poisoned(self, *args, **kwargs):
        ops = real(self, *args, **kwargs)
        ops.voltages[:, -1] = np.nan
        return ops

    monkeypatch.setattr(builtin.BuiltinSimulator, "operating_points", poisoned)
    for extra in ([], ["--json"]):
        res = CliRunner().invoke(cli, ["simulate", str(p), *extra])
        assert res.exit_code == 2, res.output
        assert res.output.startswith("Error: the builtin solution is not finite at ")
        assert "nan" not in res.output.lower().replace("(nan or", "")
    from diodenet.cli._io import dump_json

    with pytest.raises(Exception, match=r"not finite at 'a'\[1\]"):
        dump_json({"a": [1.0, float("inf")]})
    assert json.loads(dump_json({"a": [1.0, 2.0]})) == {"a": [1.0, 2.0]}


def test_non_finite_ngspice_results_are_errors(ngspice_available: None, tmp_path: Path,
                                               monkeypatch) -> None:
    """What ngspice returns is checked too: a NaN (forced into its raw vectors
    here) is an NgspiceError naming the node and sample, and one line in the CLI."""
    from diodenet.simulators.ngspice import NgspiceError, NgspiceSimulator

    real = NgspiceSimulator._run

    def poisoned(self, *args, **kwargs):
        parts = real(self, *args, **kwargs)
        for part in parts:
            part["a"] = np.array(part["a"], dtype=float)
            part["a"][-1] = np.nan
        return parts

    monkeypatch.setattr(NgspiceSimulator, "_run", poisoned)
    with NgspiceSimulator(_net("r1 in a 1k")) as sim, \
            pytest.raises(NgspiceError, match=r"non-finite V\(a\) = nan") as err:
        sim.operating_points(np.array([[1.0], [2.0]]), ["v1"])
    assert err.value.sample == 1
    p = tmp_path / "n.cir"
    p.write_text(_net("r1 in a 1k"))
    for extra in ([], ["--json"]):
        res = CliRunner().invoke(cli, ["simulate", str(p), "--backend", "ngspice", *extra])
        assert res.exit_code == 2, res.output
        assert res.output.startswith("Error: ") and len(res.output.splitlines()) == 1
        assert "non-finite V(a) = nan" in res.output, res.output
