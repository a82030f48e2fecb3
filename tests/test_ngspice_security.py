"""A netlist is data on the way to ngspice too: hostile titles and names, init
files ngspice would run, and names ngspice could misread.

Canary files stand for what an attack would touch: a file it would empty, a
``.spiceinit`` it would plant (the next ngspice start in that directory runs
whatever it says), and a file a shell command would create. Each test asserts
none was created, emptied or executed, and that the answers are right (a
closed form) with the user's own names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

from diodenet.circuits import Circuit
from diodenet.circuits.netlist import NetlistError
from diodenet.circuits.netlist.names import SAFE_NAME, SpiceNames, title_line
from diodenet.circuits.netlist.writer import ngspice_netlist
from diodenet.cli.main import cli
from diodenet.simulators.ngspice import (
    NgspiceConvergenceError,
    NgspiceSimulator,
    batch_operating_point,
)
from diodenet.simulators.ngspice.guard import check_command, check_netlist_lines

#: Passes the reader, and on the old path made ngspice read the netlist as a
#: script: ``v1>victim.txt`` emptied victim.txt, and the VCVS named ``echo``
#: wrote ``shell touch canary b 1.0`` into ./.spiceinit, which the next ngspice
#: start ran. ``v(shell) = 1`` V, ``v(touch) = 1`` V (r2 is shorted by the
#: VCVS, whose control voltage is 0), ``v(canary) = v(b>.spiceinit) = 0``.
HOSTILE = """*ng_script
v1>victim.txt shell 0 dc 1
r1 shell touch 1k
r2 touch 0 1k
r3 canary 0 1k
r4 b>.spiceinit canary 1k
r5 b>.spiceinit 0 1k
echo shell touch canary b>.spiceinit 1
.end
"""
HOSTILE_VOLTS = {"shell": 1.0, "touch": 1.0, "canary": 0.0, "b>.spiceinit": 0.0}

#: KiCad and numeric node names, and an element name with '/': ngspice misreads
#: '1' (its vector is 'V(1)') and would choke on the others in commands.
#: v(/out) = 2 * 3k/(1k + 3k) = 1.5 V; v(1) = 2 V; v(net-(d1-pad2)) = 0.5 V.
ODD_NAMES = """.title  odd names
v/in 1 0 dc 2
r1 1 /out 1k
r2 /out net-(d1-pad2) 2k
r3 net-(d1-pad2) 0 1k
.end
"""
ODD_VOLTS = {"1": 2.0, "/out": 1.5, "net-(d1-pad2)": 0.5}


@pytest.fixture()
def canaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding the victim file and the hostile netlist."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "victim.txt").write_text("precious\n")
    (tmp_path / "hostile.cir").write_text(HOSTILE)
    return tmp_path


def _untouched(directory: Path) -> None:
    assert sorted(p.name for p in directory.iterdir()) == ["hostile.cir", "victim.txt"]
    assert (directory / "victim.txt").read_text() == "precious\n"


def test_hostile_netlist_through_the_cli(ngspice_available: None, canaries: Path) -> None:
    runner = CliRunner()
    for args, runs in ((["simulate", "hostile.cir", "--backend", "ngspice", "--json"], 2),
                       (["simulate", "hostile.cir", "--backend", "ngspice", "--workers", "2",
                         "--json"], 1)):
        for _ in range(runs):  # a second start is the one a planted .spiceinit would hit
            res = runner.invoke(cli, args)
            assert res.exit_code == 0, res.output
            (point,) = json.loads(res.output)["operating_points"]
            assert point == pytest.approx(HOSTILE_VOLTS, abs=1e-9)
    (canaries / "inputs.csv").write_text("v1>victim.txt\n1\n-2\n")
    res = runner.invoke(cli, ["simulate", "hostile.cir", "--backend", "ngspice",
                              "--inputs", "inputs.csv", "--json"])
    assert res.exit_code == 0, res.output
    shell = [p["shell"] for p in json.loads(res.output)["operating_points"]]
    assert shell == pytest.approx([1.0, -2.0], abs=1e-9)
    # the ngspice hardware (linearize; gradient on a pool): v(shell) = v1, so
    # dv(shell)/dv1 = 1, and with targets 0.5, -1.5 the loss is
    # ½(0.5² + 0.5²) = 0.25, dL/du = y - t = (0.5, -0.5), no resistor matters
    (canaries / "targets.csv").write_text("shell\n0.5\n-1.5\n")
    hw = ["hostile.cir", "--inputs", "inputs.csv", "--outputs", "shell", "--backend", "ngspice",
          "--json"]
    res = runner.invoke(cli, ["linearize", *hw])
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(json.loads(res.output)["jacobian"], [[[1.0]], [[1.0]]], atol=1e-9)
    res = runner.invoke(cli, ["gradient", *hw, "--targets", "targets.csv", "--workers", "2"])
    assert res.exit_code == 0, res.output
    grad = json.loads(res.output)
    assert grad["loss"] == pytest.approx(0.25, abs=1e-9)
    np.testing.assert_allclose(grad["dL_du"], [[0.5], [-0.5]], atol=1e-9)
    assert list(grad["dL_dg"].values()) == pytest.approx([0.0] * 5, abs=1e-9)
    (canaries / "inputs.csv").unlink()
    (canaries / "targets.csv").unlink()
    res = runner.invoke(cli, ["check", "hostile.cir", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["max_abs_difference_volts"] < 1e-9
    _untouched(canaries)


def test_hostile_netlist_through_the_api(ngspice_available: None, canaries: Path) -> None:
    # method "op" sends `alter v1>victim.txt ...`-like commands for every row
    for method in ("op", "sweep"):
        with NgspiceSimulator(HOSTILE, method=method) as sim:
            op = sim.operating_points(np.array([[1.0], [3.0]]), ["v1>victim.txt"])
            assert sim.source_names == ["v1>victim.txt"]
        np.testing.assert_allclose(op.voltage("shell"), [1.0, 3.0], atol=1e-9)
        np.testing.assert_allclose(op.current("v1>victim.txt"), [-1e-3, -3e-3], rtol=1e-6)
    with NgspiceSimulator(HOSTILE, ports=["b>.spiceinit"]) as sim:
        ss = sim.small_signal([[1.0]], ["v1>victim.txt"], {"v1>victim.txt": 1.0})
        assert ss.voltage("shell") == pytest.approx([1.0], abs=1e-9)
        sens = sim.sensitivity([1.0], ["v1>victim.txt"], "v(shell)")
        assert sens["v1>victim.txt"] == pytest.approx(1.0, abs=1e-6)
        with pytest.raises(ValueError, match="sensitivity output"):
            sim.sensitivity([1.0], ["v1>victim.txt"], "v(shell) > x")
    assert batch_operating_point(HOSTILE)["shell"] == pytest.approx(1.0, abs=1e-12)
    # the same script start as a .title card, first or later
    for titled in (HOSTILE.replace("*ng_script", ".title *ng_script", 1),
                   HOSTILE.replace("*ng_script", "t\n.title *ng_script", 1)):
        with NgspiceSimulator(titled) as sim:
            assert sim.operating_points().voltage("shell") == pytest.approx([1.0], abs=1e-9)
        assert batch_operating_point(titled)["shell"] == pytest.approx(1.0, abs=1e-12)
    _untouched(canaries)


def test_text_is_read_by_the_safe_reader(ngspice_available: None, tmp_path: Path) -> None:
    secret = tmp_path / "secret.inc"
    secret.write_text("r9 a 0 1k\n")
    with pytest.raises(NetlistError, match="include files must be passed explicitly"):
        NgspiceSimulator(f"t\nv1 a 0 1\n.include {secret}\n.end\n")
    # a .control block is skipped with a note: its text never reaches ngspice
    import os

    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.warns(UserWarning, match=".control block"):
            sim = NgspiceSimulator(
                "*ng_script\nv1 a 0 1\nr1 a 0 1k\n.control\nshell touch x\n.endc\n")
        with sim:
            assert sim.operating_points().voltage("a") == pytest.approx([1.0])
        assert not (tmp_path / "x").exists()
    finally:
        os.chdir(here)
    with pytest.raises(NetlistError):
        batch_operating_point("t\nv1 a 0 1\nr1 a 0 1k\nshell touch x\n.end\n")


def test_hostile_init_files_are_never_read(ngspice_available: None, tmp_path: Path) -> None:
    """A ``.spiceinit`` in the working directory and in $HOME, and a ``spinit``
    where $SPICE_SCRIPTS points, each create a canary if ngspice runs them.
    A fresh process (one libngspice per process) starts ngspice, solves a
    divider, and none of them ran."""
    home, scripts, work = (tmp_path / d for d in ("home", "scripts", "work"))
    for d, init in ((home, ".spiceinit"), (scripts, "spinit"), (work, ".spiceinit")):
        d.mkdir()
        (d / init).write_text(f"shell touch {tmp_path / ('ran-' + d.name)}\n")
    code = textwrap.dedent("""
        from diodenet.simulators.ngspice import NgspiceSimulator
        with NgspiceSimulator("t\\nv1 a 0 2\\nr1 a b 1k\\nr2 b 0 1k\\n.end\\n") as sim:
            print(sim.operating_points().voltage("b")[0])
    """)
    env = {**os.environ, "HOME": str(home), "SPICE_SCRIPTS": str(scripts)}
    out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    assert float(out.stdout.split()[-1]) == pytest.approx(1.0, abs=1e-12)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "scripts", "work"]
    assert sorted(p.name for p in work.iterdir()) == [".spiceinit"]
    # ngspice -b (the reference route) likewise
    code = ("from diodenet.simulators.ngspice import batch_operating_point\n"
            "print(batch_operating_point('t\\nv1 a 0 2\\nr1 a b 1k\\nr2 b 0 1k\\n.end\\n')['b'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    assert float(out.stdout.split()[-1]) == pytest.approx(1.0, abs=1e-12)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "scripts", "work"]


def test_odd_names_work_and_come_back(ngspice_available: None, tmp_path: Path) -> None:
    net = tmp_path / "odd.cir"
    net.write_text(ODD_NAMES)
    (tmp_path / "in.csv").write_text("v/in\n2\n4\n")
    for backend in ("builtin", "ngspice"):
        res = CliRunner().invoke(cli, ["simulate", str(net), "--backend", backend, "--json"])
        assert res.exit_code == 0, res.output
        (point,) = json.loads(res.output)["operating_points"]
        assert point == pytest.approx(ODD_VOLTS, abs=1e-9)
        res = CliRunner().invoke(cli, ["simulate", str(net), "--backend", backend, "--json",
                                       "--inputs", str(tmp_path / "in.csv")])
        assert res.exit_code == 0, res.output
        outs = [p["/out"] for p in json.loads(res.output)["operating_points"]]
        assert outs == pytest.approx([1.5, 3.0], abs=1e-9)
    with NgspiceSimulator(ODD_NAMES, ports=["/out"]) as sim:
        op = sim.operating_points()
        assert set(op.nodes) == set(ODD_VOLTS) and op.branches == ["v/in"]
        assert op.voltage("/out") == pytest.approx([1.5], abs=1e-9)
        sim.set_conductances({"r1": 1 / 3e3})  # v(/out) = 2 * 3k/6k
        assert sim.operating_points().voltage("/out") == pytest.approx([1.0], abs=1e-9)
        # the port's small-signal transfer resistance: (r1 || (r2 + r3)) = 3k*3k/6k
        ss = sim.small_signal([[2.0]], ["v/in"], {sim.port("/out"): 1.0})
        assert ss.voltage("/out") == pytest.approx([1500.0], rel=1e-6)
    assert batch_operating_point(ODD_NAMES)["/out"] == pytest.approx(1.5, abs=1e-12)


def test_odd_names_in_gradient_and_linearize(ngspice_available: None, tmp_path: Path) -> None:
    """The ngspice hardware on KiCad/numeric names gives the built-in solver's
    gradient and Jacobian, keyed by the user's names; unknown names are one line."""
    net = tmp_path / "odd.cir"
    net.write_text(ODD_NAMES.replace(".end", "d1 /out 0 dm\n.model dm D(Is=1e-14)\n.end"))
    (tmp_path / "in.csv").write_text("v/in\n2\n4\n")
    (tmp_path / "t.csv").write_text("/out\n0.1\n0.2\n")
    got = {}
    for backend in ("builtin", "ngspice"):
        args = [str(net), "--inputs", str(tmp_path / "in.csv"), "--outputs", "/out",
                "--backend", backend, "--json"]
        res = CliRunner().invoke(cli, ["gradient", *args, "--targets", str(tmp_path / "t.csv")])
        assert res.exit_code == 0, res.output
        grad = json.loads(res.output)
        res = CliRunner().invoke(cli, ["linearize", *args])
        assert res.exit_code == 0, res.output
        got[backend] = (grad, json.loads(res.output)["jacobian"])
    (gb, jb), (gn, jn) = got["builtin"], got["ngspice"]
    assert list(gn["dL_dg"]) == ["r1", "r2", "r3"] and gn["inputs"] == ["v/in"]
    for name in gb["dL_dg"]:
        assert gn["dL_dg"][name] == pytest.approx(gb["dL_dg"][name], rel=1e-6)
    np.testing.assert_allclose(jn, jb, rtol=1e-6)
    for flag, value, message in (("--outputs", "nosuch", "output node 'nosuch' is not a node"),
                                 ("--outputs", "v/in", "output node 'v/in' is not a node")):
        res = CliRunner().invoke(cli, ["linearize", str(net), "--inputs",
                                       str(tmp_path / "in.csv"), flag, value,
                                       "--backend", "ngspice"])
        assert res.exit_code == 2 and res.output == f"Error: {net}: {message} of the circuit\n"


# --------------------------------------------------------------- the writer

odd_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
names = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Cc"),
                              blacklist_characters="(){}=,;"), min_size=1, max_size=12)


@st.composite
def odd_circuits(draw: st.DrawFn) -> Circuit:
    c = Circuit(title=draw(odd_text))
    nodes = draw(st.lists(names.map(str.lower).filter(lambda n: n.strip() not in ("0", "gnd")),
                          min_size=2, max_size=4, unique_by=lambda n: n.strip().lower()))
    nodes = [n.strip().lower() for n in nodes if n.strip()]
    if len(nodes) < 2:
        nodes = ["a", "b"]
    tails = draw(st.lists(names, min_size=4, max_size=4))
    c.add_voltage_source("v" + tails[0], nodes[0], "0", 1.0)
    c.add_resistor("r" + tails[1], nodes[0], nodes[1], resistance=1e3)
    c.add_resistor("r_" + tails[2], nodes[1], "0", resistance=1e3)
    c.add_diode("d" + tails[3], nodes[1], "0", model_name="m" + tails[3])
    return c


@settings(max_examples=300, deadline=None)
@given(odd_circuits())
def test_nothing_but_safe_names_reaches_ngspice(c: Circuit) -> None:
    lines, spice = ngspice_netlist(c)
    check_netlist_lines(lines)
    assert lines[0] == title_line(c.title) and lines[0].startswith("* diodenet:")
    assert lines[0].isascii() and not any(ch in lines[0] for ch in "<>|&;`$'\"*"[:-1])
    for line in lines[1:]:
        word = line.split()[0]
        assert word.startswith(".") or SAFE_NAME.fullmatch(word), line
        assert not any(ch in line for ch in "<>|&;`$\"'!~"), line
    for e in c:
        name = spice.element(e.name)
        assert SAFE_NAME.fullmatch(name) and name[0] == e.name[0]
        assert spice.user_element(name) == e.name
        check_command(f"alter {name} dc=1.0")
        check_command(f"alter @{name}[acmag]=1.0")
    for n in c.nodes:
        assert SAFE_NAME.fullmatch(spice.node(n)) and spice.user_node(spice.node(n)) == n
        check_command(f"sens v({spice.node(n)})")


@settings(max_examples=300, deadline=None)
@given(odd_text)
def test_titles_never_start_a_script(title: str) -> None:
    line = title_line(title)
    assert line.startswith("* diodenet:") and line.isascii() and len(line) <= 93
    assert not any(ord(ch) < 32 for ch in line)
    check_netlist_lines([line, ".end"])


def test_binding_refuses_command_text() -> None:
    for bad in ("alter v1>x dc=1", "print v(a) > out", "shell ls", "source x.cir",
                "alter v1 dc=1; shell ls", "echo `ls`", "set x=$HOME", "op\nshell ls"):
        with pytest.raises(ValueError, match="refused"):
            check_command(bad)
    for bad in (["*ng_script", "r1 a 0 1"], ["*NG_SCRIPT_X"], ["t", ".control", ".endc"],
                ["t", ".include /etc/passwd"], ["t", "r1 a 0 1\nshell ls"],
                ["t", ".controlx"], ["t", ".incx /etc/passwd"], ["t", " *#shell ls"]):
        with pytest.raises(ValueError):
            check_netlist_lines(bad)


_COMMAND_WORDS = (".control", ".endc", ".exec", ".include", ".inc", ".lib", ".shell",
                  ".system", ".osdi", ".pre_osdi", "shell", "system")
#: ngspice reads its dot cards by prefix ('.controlx' is '.control') and runs a
#: comment line starting with '*#' as a command
_COMMAND_PREFIXES = (".control", ".endc", ".exec", ".inc", ".lib", ".shell", ".system",
                     ".osdi", ".pre_osdi", "*#")


def _refusal_line_by_line(lines: list[str]) -> str | None:
    """The netlist check written out plainly, one line at a time: the message
    for the first line at fault, or None."""
    if not lines:
        return "an empty netlist"
    for k, line in enumerate(lines):
        if any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in line):
            return f"netlist line {k + 1} holds a control character"
        low = line.strip().lower()
        if k == 0:
            if low.startswith("*ng_"):
                return "refused a netlist whose first line starts a script"
            continue
        words = low.split()
        if words and (words[0] in ("shell", "system")
                      or any(words[0].startswith(p) for p in _COMMAND_PREFIXES)):
            return f"refused the netlist card {line[:40]!r}"
    return None


# lines made of card-like pieces: command words in any case, separators that
# str.split treats as white space (non-breaking, line separators), control
# characters, and characters whose lower case is special (the Kelvin sign,
# dotted capital I, long s)
_pieces = st.sampled_from([
    *_COMMAND_WORDS, ".CONTROL", "Shell", "SYSTEM", ".Include", "r1", "s1", "S1", "* c",
    ".controlx", ".EndCx", ".incx", ".library", "*#", "*# echo", "*@", ".ends", ".endsx",
    "*ng_script", "*NG_", " ", "\t", "\u00a0", "\u2028", "\x85", "\n", "\r", "\x0b",
    "\x00", "\x7f", "\u212a", "\u0130", "\u017f", "a", "0", "1e3", ".end", "=",
])
_lines = st.lists(st.lists(_pieces, max_size=5).map("".join), min_size=0, max_size=6)


@settings(max_examples=500, deadline=None)
@given(_lines)
@example(["t", "\u00a0.control"])  # white space str.strip removes and ASCII does not
@example(["t", "\u2028shell ls"])
@example(["t", "r1 a 0 1", "\x85.include /etc/passwd"])
@example(["t", "\t  .ConTrol"])
@example(["t", "\u017fhell"])  # long s: lower case is itself, not a command
@example(["t", "r1 a 0 1\u2028.control"])  # one line for ngspice: not a card
@example(["t", "  *#shell touch x"])  # ngspice runs '*#' lines, indented too
@example(["t", ".controlx", "echo", ".endcx"])  # ngspice matches by prefix
@example(["*ng_script"])
@example(["t", "", "   ", ".end"])
def test_the_netlist_check_refuses_what_a_line_by_line_check_refuses(lines: list[str]) -> None:
    """The binding checks a netlist by two scans of the joined text; it refuses
    exactly the netlists that the check written line by line refuses, with
    the same message."""
    expected = _refusal_line_by_line(lines)
    if expected is None:
        check_netlist_lines(lines)
    else:
        with pytest.raises(ValueError) as info:
            check_netlist_lines(lines)
        assert str(info.value) == expected


def test_aliases_are_stable_and_distinct() -> None:
    m = SpiceNames()
    a, b = m.add_node("/out"), m.add_node("1")
    assert a != b and m.add_node("/out") == a and m.add_node("out") == "out"
    assert m.add_node("dnxa_0") not in (a, b, "dnxa_0")  # a user name in our namespace
    assert m.add_element("vdnx_idx") != "vdnx_idx" and m.add_element("v1") == "v1"
    assert m.user_text(f"singular matrix at node {a}") == "singular matrix at node /out"


def test_ngspice_errors_carry_the_users_names(ngspice_available: None) -> None:
    """A diode forced to 50 V by an ideal source cannot converge; ngspice's message
    names the diode and its model, which reach the user as written."""
    forced = "forced\nv/1 /a 0 dc 0\nr1 /a 0 1k\nd/x /a 0 m:od\n.model m:od d(is=1e-14)\n.end\n"
    with NgspiceSimulator(forced, method="op") as sim, \
            pytest.raises(NgspiceConvergenceError) as err:
        sim.operating_points(np.array([[50.0]]), ["v/1"])
    assert "trouble with m:od-instance d/x" in str(err.value), str(err.value)
    assert "dnxa_" not in str(err.value) and err.value.sample == 0


@st.composite
def odd_netlists(draw: st.DrawFn) -> str:
    """Netlist text with random titles and element, node, model and subcircuit
    names (anything a netlist word may hold)."""
    word = names.filter(lambda w: not w.startswith(("*", "+", ".", "$", "/", "'", '"'))
                        and "\\" not in w and w.lower() not in ("0", "gnd"))
    n = draw(st.lists(word.map(str.lower), min_size=3, max_size=3,
                      unique_by=lambda w: w.lower()))
    t = draw(st.lists(word, min_size=5, max_size=5))
    title = draw(odd_text).replace("\n", " ").replace("\r", " ")
    return "\n".join([
        title or "t",
        f".subckt s{t[4]} p q", f"r{t[3]} p q 2k", f".ends s{t[4]}",
        f"v{t[0]} {n[0]} 0 dc 1", f"r{t[1]} {n[0]} {n[1]} 1k",
        f"x{t[2]} {n[1]} {n[2]} s{t[4]}", f"d{t[2]} {n[2]} 0 m{t[4]}",
        f".model m{t[4]} D(is=1e-14)", ".end", ""])


@settings(max_examples=150, deadline=None)
@given(odd_netlists())
def test_compare_sends_only_safe_names(text: str) -> None:
    """`compare` sends ngspice the user's own cards: whatever the names and
    title, the lines pass the binding's netlist check and every name in them is
    in the safe alphabet (or ground)."""
    import tempfile
    import warnings

    from diodenet.circuits.netlist import NetlistWarning
    from diodenet.circuits.netlist.deck import user_cards

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "n.cir"
        path.write_text(text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NetlistWarning)
            try:
                cards, _ = user_cards(path)
            except NetlistError:
                return  # refused by the reader: nothing reaches ngspice
    check_netlist_lines(["* diodenet compare", *cards, ".end"])
    for card in cards:
        words = card.split()
        if words[0] == ".model":
            assert SAFE_NAME.fullmatch(words[1]), card
            continue
        if words[0] in (".subckt", ".ends"):
            named = words[1:]
        elif words[0][0] == "x":
            named = words
        else:
            named = words[:3] + (words[3:4] if words[0][0] == "d" else [])
        for w in named:
            assert w == "0" or SAFE_NAME.fullmatch(w), card
        assert not any(ch in card for ch in "<>|&;`$\"'!~"), card


#: Each ran a shell command (or read a file) through `compare`, which sends
#: ngspice the user's own cards: ngspice matches its dot cards by prefix, so
#: '.endsx' closed an unused subcircuit (whose body diodenet never reads) and
#: '.controlx' opened a control block that diodenet took for body cards.
ESCAPES = {
    "endsx": ".subckt unused p q\n.endsx\n.control\nshell touch {marker}\n.endc\n"
             ".subckt unused2 p q\n.ends\n",
    "controlx": ".controlx\nshell touch {marker}\n.endcx\n",
    "incx": ".subckt unused p q\n.endsx\n.incx {marker}.inc\n.subcktx unused2 p q\n.ends\n",
}


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_compare_refuses_cards_that_ngspice_reads_by_prefix(
        ngspice_available: None, tmp_path: Path, name: str) -> None:
    """Raw ngspice runs each file's command (the independent truth that the
    file is an escape); `compare` refuses it in one line and runs nothing."""
    marker = tmp_path / "marker"
    (tmp_path / "marker.inc").write_text(f"shell touch {marker}\n")
    body = ESCAPES[name].format(marker=marker)
    path = tmp_path / f"{name}.cir"
    path.write_text(f"escape\nv1 a 0 1\nr1 a 0 1k\n{body}.end\n")
    subprocess.run(["ngspice", "-b", str(path)], capture_output=True, timeout=60,
                   cwd=tmp_path, check=False)
    if name != "incx":  # (ngspice reads the include as cards: a bad card, no shell)
        assert marker.exists(), f"raw ngspice did not run the {name} escape"
        marker.unlink()
    res = CliRunner().invoke(cli, ["compare", str(path)])
    assert res.exit_code == 2 and "spell the card exactly" in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not marker.exists()


def test_star_hash_lines_are_skipped_with_a_note(ngspice_available: None, tmp_path: Path) -> None:
    """ngspice runs a comment line starting with '*#' (indented too) as a
    command; diodenet skips it with a note, so `compare` runs the circuit only."""
    marker = tmp_path / "marker"
    path = tmp_path / "hash.cir"
    path.write_text(f"hash\nv1 a 0 1\n  *#shell touch {marker}\nr1 a 0 1k\n.end\n")
    subprocess.run(["ngspice", "-b", str(path)], capture_output=True, timeout=60,
                   cwd=tmp_path, check=False)
    assert marker.exists(), "raw ngspice did not run the '*#' line"
    marker.unlink()
    res = CliRunner().invoke(cli, ["compare", str(path), "--json"])
    assert res.exit_code == 0, res.output
    assert "'*#' line skipped" in res.output
    assert not marker.exists()


def test_compare_sends_the_text_it_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The netlist is read once for both the check and the cards sent: a file
    read twice could change in between (the second copy went to ngspice
    unchecked)."""
    from diodenet.circuits.netlist import includes
    from diodenet.circuits.netlist.deck import user_cards

    path = tmp_path / "n.cir"
    path.write_text("t\nv1 a 0 1\nr1 a 0 1k\n.end\n")
    reads: list[Path] = []
    real = includes.read_text

    def counting(p: Path) -> str:
        reads.append(Path(p))
        return real(p)

    monkeypatch.setattr(includes, "read_text", counting)
    cards, _ = user_cards(path)
    assert reads == [path] and len(cards) == 2
