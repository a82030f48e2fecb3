"""`diodenet simulate`, `diodenet check` and `diodenet kernel` against closed forms
and an independent scalar solve of the diode law; bad input gives one line, exit 2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.optimize import brentq

from diodenet.cli.main import cli

VT = 1.38064852e-23 * 300.15 / 1.6021766208e-19  # kT/q at 27 C, CODATA 2014 (ngspice 39)

#: Shockley diode fed from two sources; node names in upper case on purpose
SHOCKLEY = """two sources and a diode
V1 IN 0 dc 1
V2 B 0 dc 0.5
R1 IN OUT 1k
R2 B OUT 2k
D1 OUT 0 dmod
.model dmod D(Is=1e-14 N=1.5)
.end
"""

#: ideal diode, forward biased by V1 > 0
IDEAL = """ideal diode
*@diodenet model dideal ideal
.model dideal D(Is=1e-14 N=0.02 Rs=0.0)
V1 IN 0 dc 2
R1 IN OUT 1k
D1 OUT 0 dideal
.end
"""

#: two ideal diodes, for the kernel's closed form
KERNEL = """kernel closed form
*@diodenet model dideal ideal
.model dideal D(Is=1e-14 N=0.02 Rs=0.0)
V1 IN 0 dc 1
R1 IN A 1k
R2 A B 2k
R3 B 0 4k
D1 0 A dideal
D2 B 0 dideal
.end
"""


def out_voltage(v1: float, v2: float, is_: float = 1e-14, n: float = 1.5) -> float:
    """V(out) of SHOCKLEY by a scalar root of KCL at ``out`` (the diode law)."""

    def kcl(v: float) -> float:
        return (v1 - v) / 1e3 + (v2 - v) / 2e3 - is_ * math.expm1(v / (n * VT))

    return brentq(kcl, -10, 10, xtol=1e-15, rtol=1e-15)


def standin_drop(v1: float, gmin: float = 1e-12) -> float:
    """V(out) of IDEAL in ngspice: the stand-in diode (Is 1e-14, N 0.02) fed through 1 kΩ,
    with ngspice's gmin across the junction."""

    def kcl(v: float) -> float:
        return (v1 - v) / 1e3 - 1e-14 * math.expm1(v / (0.02 * VT)) - gmin * v

    return brentq(kcl, -1, 0.1, xtol=1e-15, rtol=1e-15)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in {"shockley.cir": SHOCKLEY, "ideal.cir": IDEAL, "kernel.cir": KERNEL,
                       "inputs.csv": "V1,v2\n1,0.5\n2.5,-1\n-3,4\n",
                       "v1.csv": "v1\n1\n3\n2\n"}.items():
        (tmp_path / name).write_text(text)
        out[name] = tmp_path / name
    return out


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)  # click's exit, not a crash
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ------------------------------------------------------------------ simulate
def test_simulate_json_defaults(files: dict[str, Path]) -> None:
    r = invoke("simulate", files["shockley.cir"], "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == {"backend", "route", "operating_points"} and data["backend"] == "builtin"
    assert data["route"] == "kernel"
    (op,) = data["operating_points"]
    assert set(op) == {"in", "b", "out"}  # lower case, no ground
    assert op["in"] == 1.0 and op["b"] == 0.5
    assert abs(op["out"] - out_voltage(1.0, 0.5)) < 1e-9


def test_simulate_text_output(files: dict[str, Path]) -> None:
    r = invoke("simulate", files["shockley.cir"])
    assert r.exit_code == 0, r.output
    assert "backend: builtin" in r.stdout
    line = next(ln for ln in r.stdout.splitlines() if "V(out)" in ln)
    assert abs(float(line.split("=")[1]) - out_voltage(1.0, 0.5)) < 1e-8


def test_simulate_inputs_csv(files: dict[str, Path]) -> None:
    r = invoke("simulate", files["shockley.cir"], "--inputs", files["inputs.csv"], "--json")
    assert r.exit_code == 0, r.output
    ops = json.loads(r.stdout)["operating_points"]
    rows = [(1, 0.5), (2.5, -1), (-3, 4)]
    assert len(ops) == len(rows)
    for op, (v1, v2) in zip(ops, rows):
        assert (op["in"], op["b"]) == (v1, v2)
        assert abs(op["out"] - out_voltage(v1, v2)) < 1e-9
    # a CSV naming only some sources leaves the others at the netlist's values
    r = invoke("simulate", files["shockley.cir"], "--inputs", files["v1.csv"], "--json")
    ops = json.loads(r.stdout)["operating_points"]
    assert [op["b"] for op in ops] == [0.5] * 3
    for op, v1 in zip(ops, [1, 3, 2]):
        assert abs(op["out"] - out_voltage(v1, 0.5)) < 1e-9


def test_simulate_ngspice_backend_same_numbers(ngspice_available: None,
                                               files: dict[str, Path]) -> None:
    args = ("simulate", files["shockley.cir"], "--inputs", files["inputs.csv"], "--json")
    ours = json.loads(invoke(*args).stdout)
    r = invoke(*args, "--backend", "ngspice")
    assert r.exit_code == 0, r.output
    theirs = json.loads(r.stdout)
    assert theirs["backend"] == "ngspice"
    assert len(theirs["operating_points"]) == 3
    for a, b in zip(ours["operating_points"], theirs["operating_points"]):
        assert set(a) == set(b)
        for node in a:
            assert abs(a[node] - b[node]) < 1e-6, node


# --------------------------------------------------------------------- check
def test_check_is_a_hidden_alias_of_compare() -> None:
    """`compare` is the command; `check`, its old name, still runs it but is not listed."""
    listed = CliRunner().invoke(cli, ["--help"]).stdout
    assert "compare" in listed and "\n  check " not in listed
    assert cli.commands["check"].hidden and not cli.commands["compare"].hidden
    assert cli.commands["check"].callback is cli.commands["compare"].callback


def test_check_reports_the_stand_in_drop(ngspice_available: None,
                                         files: dict[str, Path]) -> None:
    """Ideal diode: builtin says V(out) = 0; ngspice's stand-in drops a few mV there.
    The largest difference is at `out`, for the largest current (v1 = 3 V)."""
    r = invoke("check", files["ideal.cir"], "--inputs", files["v1.csv"], "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["node"] == "out" and data["sample"] == 1 and data["samples"] == 3
    drop = standin_drop(3.0)
    assert 5e-3 < drop < 2e-2
    assert abs(data["max_abs_difference_volts"] - drop) < 1e-6
    assert abs(data["ngspice"] - drop) < 1e-6 and abs(data["builtin"]) < 1e-12
    # text form: the same figure and place
    r = invoke("check", files["ideal.cir"])
    assert r.exit_code == 0, r.output
    assert "at node 'out', sample 0" in r.stdout
    figure = float(r.stdout.split("=")[1].split()[0])
    assert abs(figure - standin_drop(2.0)) < 1e-5  # printed with 4 significant digits


def test_check_shockley_agrees_closely(ngspice_available: None, files: dict[str, Path]) -> None:
    r = invoke("check", files["shockley.cir"], "--inputs", files["inputs.csv"], "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["max_abs_difference_volts"] < 1e-6


# -------------------------------------------------------------------- kernel
def test_kernel_json_closed_form(files: dict[str, Path]) -> None:
    """d1 (cathode a): z1 = V(a); d2 (anode b): z2 = -V(b). KCL gives
    H = [[g1+g2, g2], [g2, g2+g3]], B = [[-g1], [0]]; y = (V(a), V(b)) = (z1, -z2)."""
    r = invoke("kernel", files["kernel.cir"], "--inputs", "V1", "--outputs", "a,B", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert {"H", "B", "C", "D", "margin"} <= set(data)
    g1, g2, g3 = 1e-3, 0.5e-3, 0.25e-3
    H = np.array([[g1 + g2, g2], [g2, g2 + g3]])
    np.testing.assert_allclose(data["H"], H, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(data["B"], [[-g1], [0.0]], rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(data["C"], [[-1.0, 0.0], [0.0, 1.0]], atol=1e-12)
    np.testing.assert_allclose(data["D"], [[0.0], [0.0]], atol=1e-12)
    assert abs(data["margin"] - np.linalg.eigvalsh(H).min()) < 1e-15


# -------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "csv, fragments",
    [
        ("v1,v2\n1,abc\n", ["line 2", "'v2'", "'abc'", "not a number"]),
        ("v1,v2\n1,2,3\n", ["line 2", "3 values", "header has 2"]),
        ("v1,v9\n1,2\n", ["'v9'", "not an independent source"]),
        ("v1\n", ["no data rows"]),
    ],
)
@pytest.mark.parametrize("command", ["simulate", "check"])
def test_bad_csv_is_one_line(tmp_path: Path, files: dict[str, Path], csv: str,
                             fragments: list[str], command: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(csv)
    r = invoke(command, files["shockley.cir"], "--inputs", bad)
    assert_one_line_error(r, *fragments)


def test_unknown_source_on_ngspice_backend_is_one_line(ngspice_available: None,
                                                       tmp_path: Path,
                                                       files: dict[str, Path]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("v1,v9\n1,2\n")
    r = invoke("simulate", files["shockley.cir"], "--inputs", bad, "--backend", "ngspice")
    assert_one_line_error(r, "v9")


def test_netlist_error_names_the_line(tmp_path: Path) -> None:
    net = tmp_path / "broken.cir"
    net.write_text("broken\nV1 in 0 dc 1\nR1 in out\nR2 out 0 1k\n.end\n")
    for command in (["simulate"], ["check"], ["kernel", "--inputs", "v1", "--outputs", "out"]):
        r = invoke(command[0], net, *command[1:])
        assert_one_line_error(r, str(net), "line 3")
    r = invoke("simulate", tmp_path / "missing.cir")
    assert_one_line_error(r, "missing.cir")


def test_kernel_unknown_output_is_one_line(files: dict[str, Path]) -> None:
    r = invoke("kernel", files["kernel.cir"], "--inputs", "v1", "--outputs", "nowhere")
    assert_one_line_error(r, "nowhere")


def test_transformer_and_gyrator_same_nodes_on_both_backends(ngspice_available: None) -> None:
    """reserved.cir: 1 V through 100 Ω into a 1:1/2.5 transformer loaded by 1 kΩ (seen as
    2.5²·1k) in parallel with a gyrator (g = 1 mS) loaded by 2 kΩ (seen as g²·2k = 2 mS).
    ngspice's subcircuit-internal nodes (xt.mid) must not appear in the output."""
    netlist = Path(__file__).parent / "netlists" / "reserved.cir"
    g_load = 1 / (2.5**2 * 1e3) + 1e-3**2 * 2e3
    vp = (1 / g_load) / (100 + 1 / g_load)
    expected = {"in": 1.0, "p": vp, "s": vp / 2.5, "q": 1e-3 * vp * 2e3}
    for backend in ("builtin", "ngspice"):
        r = invoke("simulate", netlist, "--json", "--backend", backend)
        assert r.exit_code == 0, r.output
        (op,) = json.loads(r.stdout)["operating_points"]
        assert list(op) == list(expected), backend
        for node, v in expected.items():
            assert abs(abs(op[node]) - v) < 1e-9, (backend, node)


def test_exact_zero_prints_without_sign(files: dict[str, Path]) -> None:
    """The ideal diode clamps V(out) to exactly 0 V: printed as 0, never -0."""
    r = invoke("simulate", files["ideal.cir"], "--inputs", files["v1.csv"])
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stdout.splitlines() if "V(out)" in ln]
    assert [ln.split("=")[1].strip() for ln in lines] == ["0", "0", "0"]
    r = invoke("simulate", files["ideal.cir"], "--inputs", files["v1.csv"], "--json")
    for op in json.loads(r.stdout)["operating_points"]:
        assert op["out"] == 0.0 and math.copysign(1.0, op["out"]) == 1.0


def test_kernel_json_without_diodes_is_strict_json(tmp_path: Path) -> None:
    """No diodes: the margin is undefined (null, not the non-JSON `Infinity`);
    D is the divider's closed form, y = u/2 = -D u."""
    net = tmp_path / "divider.cir"
    net.write_text("divider\nV1 a 0 dc 1\nR1 a b 1k\nR2 b 0 1k\n.end\n")
    r = invoke("kernel", net, "--inputs", "v1", "--outputs", "b", "--json")
    assert r.exit_code == 0, r.output

    def reject(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    data = json.loads(r.stdout, parse_constant=reject)
    assert data["margin"] is None and data["H"] == []
    np.testing.assert_allclose(data["D"], [[-0.5]], rtol=1e-12)


@pytest.mark.parametrize("command", ["simulate", "compare"])
def test_a_backend_missing_a_node_is_an_error(tmp_path: Path, monkeypatch,
                                              command: str) -> None:
    """A backend answer without one of the circuit's nodes is a one-line error
    (exit 2), not an answer that silently leaves the node out."""
    import diodenet.cli.simulate_cmd as simulate_cmd
    from diodenet.simulators.builtin import BuiltinSimulator

    path = tmp_path / "net.cir"
    path.write_text("t\nv1 1 0 2\nr1 1 2 1k\nr2 2 0 1k\n.end\n")

    def short_answer(backend, circuit, names, values, workers):
        op = BuiltinSimulator(circuit).operating_points(values, names)
        keep = [k for k, n in enumerate(op.nodes) if n != "2"]
        op.nodes = [op.nodes[k] for k in keep]
        op.voltages = op.voltages[:, keep]
        return op

    monkeypatch.setattr(simulate_cmd, "_run_backend", short_answer)
    r = CliRunner().invoke(cli, [command, str(path)])
    assert r.exit_code == 2, r.output
    assert r.stderr == ("Error: the backend reported no voltage for 1 of the circuit's 2 "
                        "nodes (first: '2')\n")
