"""--include-dir: includes inside one folder only; notes and refusals on one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from diodenet.circuits.netlist import NetlistError, read_netlist
from diodenet.cli.main import cli

MODEL = ".model dd D(Is=1e-14)\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    lib = tmp_path / "proj" / "lib"
    lib.mkdir(parents=True)
    (lib / "d.lib").write_text(MODEL)
    (tmp_path / "secret.lib").write_text(MODEL)
    (lib / "escape.lib").symlink_to(tmp_path / "secret.lib")
    return tmp_path / "proj"


def net(folder: Path, include: str) -> Path:
    path = folder / "net.cir"
    path.write_text(f"t\n.include {include}\nv1 a 0 1\nr1 a b 1k\nd1 b 0 dd\n.end\n")
    return path


def test_relative_include_inside_the_folder(tree: Path) -> None:
    c = read_netlist(net(tree, "lib/d.lib"), include_dir=tree)
    assert c["d1"].model.is_ == 1e-14  # type: ignore[union-attr]


@pytest.mark.parametrize("include, fragment", [
    ("../secret.lib", "outside the include folder"),
    ("lib/escape.lib", "outside the include folder"),  # a symbolic link out
    ("/etc/hostname", "an absolute path"),
    ("C:\\lib\\d.lib", "a Windows path; pass the file itself with --include d.lib"),
    ("lib/none.lib", "no such file in the include folder"),
    ("lib", "is a folder, not a file"),
])
def test_escapes_refused(tree: Path, include: str, fragment: str) -> None:
    with pytest.raises(NetlistError, match="line 2") as info:
        read_netlist(net(tree, include), include_dir=tree)
    assert fragment in info.value.problem


def test_without_include_dir_nothing_is_read(tree: Path) -> None:
    with pytest.raises(NetlistError, match="must be passed explicitly"):
        read_netlist(net(tree, "lib/d.lib"))


def test_an_include_that_is_none_of_the_given_files_lists_them(tree: Path) -> None:
    """``--include lib/d.lib`` does not stand for ``.include d.lib`` (ngspice would
    look for d.lib beside the netlist): the refusal names the files given."""
    with pytest.raises(NetlistError, match=r"line 2: .*none of the files given \(.*d\.lib\)"):
        read_netlist(net(tree, "d.lib"), includes=[tree / "lib" / "d.lib"])


def test_windows_path_matches_an_explicit_include(tree: Path) -> None:
    c = read_netlist(net(tree, "C:\\lib\\d.lib"), includes=[tree / "lib" / "d.lib"])
    assert "d1" in c


@pytest.mark.parametrize("command", [
    ["simulate"], ["compare"], ["check"], ["netlist", "check"],
    ["kernel", "--inputs", "v1", "--outputs", "b"],
])
def test_every_command_takes_include_dir_and_quiet(tree: Path, command: list[str],
                                                   ngspice_available: None) -> None:
    path = net(tree, "lib/d.lib")
    path.write_text(path.read_text().replace(".end", ".op\n.end"))
    r = CliRunner().invoke(cli, [*command, str(path), "--include-dir", str(tree)])
    assert r.exit_code == 0, r.output
    notes = [line for line in r.stderr.splitlines() if line]
    assert notes == [f"{path}:6: note: .op ignored (diodenet reads the circuit; simulators "
                     "add their own analyses)"]
    quiet = CliRunner().invoke(cli, [*command, str(path), "--include-dir", str(tree), "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""


@pytest.mark.parametrize("command", [
    ["simulate"], ["compare"], ["check"], ["netlist", "check"],
    ["kernel", "--inputs", "v1", "--outputs", "b"],
    ["gradient", "--inputs", "{u}", "--outputs", "b", "--targets", "{t}"],
    ["linearize", "--inputs", "{u}", "--outputs", "b"],
])
def test_every_command_takes_include(tree: Path, command: list[str],
                                     ngspice_available: None) -> None:
    """The same file read with --include FILE instead of --include-dir, and
    refused (one line, exit 2) without either."""
    path = net(tree, "lib/d.lib")
    (tree / "u.csv").write_text("v1\n1\n")
    (tree / "t.csv").write_text("b\n0.1\n")
    args = [a.format(u=tree / "u.csv", t=tree / "t.csv") for a in command]
    r = CliRunner().invoke(cli, [*args, str(path), "--include", str(tree / "lib" / "d.lib")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, [*args, str(path)])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output
    assert ": line 2: .include 'lib/d.lib' refused" in r.stderr, r.stderr


def test_refusal_is_one_line_with_file_and_line(tree: Path) -> None:
    path = net(tree, "../secret.lib")
    r = CliRunner().invoke(cli, ["simulate", str(path), "--include-dir", str(tree)])
    assert r.exit_code == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.lower().startswith(f"error: {str(path).lower()}: line 2: .include")
    assert "Traceback" not in r.output


@pytest.mark.parametrize("command", ["compare", "check"])
def test_compare_catches_an_unmodelled_parameter(tmp_path: Path, monkeypatch, command: str,
                                                 ngspice_available: None) -> None:
    """compare (and check, its old name) runs ngspice on the user's own cards: if
    the builtin dropped IKF (here on purpose), the difference shows (millivolts),
    where a compare of ngspice on diodenet's rewritten circuit would report ~0."""
    import diodenet.circuits.netlist.cards as cards
    from diodenet.circuits.netlist import models

    path = tmp_path / "knee.cir"
    path.write_text("t\nv1 a 0 5\nr1 a b 100\nd1 b 0 dd\n.model dd D(Is=1e-14 ikf=1m)\n")
    honest = CliRunner().invoke(cli, [command, str(path), "--json"])
    assert honest.exit_code == 0, honest.output
    assert '"max_abs_difference_volts": ' in honest.stdout
    import json

    assert json.loads(honest.stdout)["max_abs_difference_volts"] < 1e-6

    def drop_ikf(values, *args, **kwargs):
        return models.diode_instance({k: v for k, v in values.items() if k != "ikf"},
                                     *args, **kwargs)

    monkeypatch.setattr(cards, "diode_instance", drop_ikf)
    r = CliRunner().invoke(cli, [command, str(path), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["max_abs_difference_volts"] > 1e-2


def test_symlink_fixture_is_a_link(tree: Path) -> None:
    assert os.path.islink(tree / "lib" / "escape.lib")


@pytest.mark.parametrize("backend", ["builtin", "ngspice"])
def test_gradient_and_linearize_take_include_dir(tree: Path, backend: str,
                                                  ngspice_available: None) -> None:
    path = net(tree, "lib/d.lib")
    (tree / "u.csv").write_text("v1\n1\n2\n")
    (tree / "t.csv").write_text("b\n0.1\n0.2\n")
    r = CliRunner().invoke(cli, ["gradient", str(path), "--inputs", str(tree / "u.csv"),
                                 "--outputs", "b", "--targets", str(tree / "t.csv"),
                                 "--backend", backend, "--include-dir", str(tree), "--json"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["linearize", str(path), "--inputs", str(tree / "u.csv"),
                                 "--outputs", "b", "--backend", backend,
                                 "--include-dir", str(tree), "--json", "-q"])
    assert r.exit_code == 0, r.output


KICAD = """.title KiCad schematic
V1 1 GND 2
R1 1 /out 1k
D1 /out Net-(D1-Pad2) dd
R2 Net-(D1-Pad2) GND 1k
.model dd D(Is=1e-14)
.end
"""


@pytest.mark.parametrize("backend", ["builtin", "ngspice"])
def test_kicad_and_numeric_names_in_every_command(tmp_path: Path, backend: str,
                                                  ngspice_available: None) -> None:
    """Node names `1`, `/out`, `Net-(D1-Pad2)` work in simulate, compare, kernel,
    gradient and linearize, and the two backends agree on them."""
    import json

    path = tmp_path / "kicad.cir"
    path.write_text(KICAD)
    run = CliRunner().invoke
    sim = run(cli, ["simulate", str(path), "--backend", backend, "--json"])
    assert sim.exit_code == 0, sim.output
    (op,) = json.loads(sim.stdout)["operating_points"]
    assert set(op) == {"1", "/out", "net-(d1-pad2)"}
    assert op["1"] == pytest.approx(2.0)
    i = op["net-(d1-pad2)"] / 1e3  # the diode current through R2
    assert op["/out"] - op["net-(d1-pad2)"] == pytest.approx(
        0.025852 * __import__("math").log(i / 1e-14 + 1), rel=2e-3)
    cmp = run(cli, ["compare", str(path), "--json"])
    assert cmp.exit_code == 0 and json.loads(cmp.stdout)["max_abs_difference_volts"] < 1e-6
    ker = run(cli, ["kernel", str(path), "--inputs", "v1", "--outputs", "/out", "--json"])
    assert ker.exit_code == 0 and json.loads(ker.stdout)["outputs"] == ["/out"], ker.output
    (tmp_path / "u.csv").write_text("v1\n2\n")
    (tmp_path / "t.csv").write_text("net-(d1-pad2)\n0.5\n")
    grad = run(cli, ["gradient", str(path), "--inputs", str(tmp_path / "u.csv"),
                     "--outputs", "net-(d1-pad2)", "--targets", str(tmp_path / "t.csv"),
                     "--backend", backend, "--json"])
    assert grad.exit_code == 0, grad.output
    lin = run(cli, ["linearize", str(path), "--inputs", str(tmp_path / "u.csv"),
                    "--outputs", "/out,net-(d1-pad2)", "--backend", backend, "--json"])
    assert lin.exit_code == 0, lin.output
    (jac,) = json.loads(lin.stdout)["jacobian"]
    assert len(jac) == 2 and 0 < jac[1][0] < jac[0][0] < 1


def test_a_note_from_an_included_file_names_that_file(tree: Path) -> None:
    """A .control block inside an include is skipped with a note that says which
    file's lines it means (it once read as lines of the including netlist)."""
    import warnings

    from diodenet.circuits.netlist import NetlistWarning

    (tree / "lib" / "ctl.lib").write_text("* lib\n.control\nrun\n.endc\n" + MODEL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NetlistWarning)
        read_netlist(net(tree, "lib/ctl.lib"), include_dir=tree)
    notes = [str(w.message) for w in caught if isinstance(w.message, NetlistWarning)]
    assert any("line 2: in 'lib/ctl.lib' line 2: .control block (lines 2-4)" in n
               for n in notes), notes
