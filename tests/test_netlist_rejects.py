"""Untrusted input: every refusal is a NetlistError naming the right line."""

from __future__ import annotations

import pytest

from diodenet import Circuit
from diodenet.circuits.netlist import NetlistError, parse_netlist, read_netlist

# A well-formed body that the cases below extend: v1 drives a, r1 loads it.
OK = "title\nv1 a 0 1\nr1 a 0 1k\n"


def reject(text: str, **kw) -> NetlistError:
    import warnings

    from diodenet.circuits.netlist import NetlistWarning

    # notes read before the refusal (an ignored parameter, a K card) are beside the point
    with pytest.raises(NetlistError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore", NetlistWarning)
        parse_netlist(text, **kw)
    return info.value


CASES = [
    # (id, text, line, fragment of the problem)
    ("exec", "t\n.exec\nshell ls\n", 2, "'.exec' refused"),
    ("shell", OK + "shell rm -rf /\n", 4, "'shell' refused"),
    ("system", OK + "system ls\n", 4, "'system' refused"),
    ("backquote", "t\nv1 a 0 `echo 1`\nr1 a 0 1\n", 2, "backquote"),
    ("include", "t\n.include /etc/passwd\n" + OK[2:], 2, "include files must be passed"),
    ("inc", "t\n* c\n.inc 'other.cir'\n" + OK[2:], 3, "refused"),
    ("lib", OK + ".lib models.lib typ\n", 4, ".lib 'models.lib' refused"),
    # a section is a .lib word: it read "library 'ok.inc' has no section 'extra'"
    ("include section", "t\n.include ok.inc extra\n" + OK[2:], 2,
     "unexpected words after .include 'ok.inc'"),
    # ngspice matches dot cards by prefix: these would be .ends and .control there
    ("ends prefix", OK + ".subckt u p q\nr9 p q 1\n.endsx\n.ends\n", 6,
     "unknown card '.endsx' (ngspice reads it as '.ends'"),
    ("control prefix", OK + ".controlx\n", 4, "'.controlx' reads as '.control'"),
    ("bjt", OK + "q1 a a 0 qmod\n", 4, "bipolar transistors (Q) are out of scope"),
    ("switch", OK + "s1 a 0 a 0 sw\n", 4, "switches (S) are out of scope"),
    ("current switch", OK + "w1 a 0 v1 sw\n", 4, "current switches (W)"),
    ("xspice", OK + "a1 a 0 amod\n", 4, "XSPICE code models (A)"),
    ("tline", OK + "t1 a 0 a 0 z0=50 td=1n\n", 4, "transmission lines (T)"),
    ("lossy line", OK + "o1 a 0 a 0 lmod\n", 4, "lossy lines (O)"),
    ("cider", OK + "d1 a 0 pn\n.model pn numd level=1\n", 5, "CIDER numerical device"),
    ("thermal diode", OK + "d1 a 0 tj dm thermal\n.model dm D\n", 4, "self-heating"),
    ("tunnel", OK + "d1 a 0 dm\n.model dm D(jtun=1n)\n", 5, "'jtun' (tunnelling current)"),
    ("ltspice ilimit", OK + "d1 a 0 dm\n.model dm D(ron=1 ilimit=1)\n", 5, "'ilimit'"),
    ("ltspice roff", OK + "d1 a 0 dm\n.model dm D(ron=2 roff=1)\n", 4, "must exceed Ron"),
    ("trnoise", "t\nv1 a 0 trnoise(1 1n)\nr1 a 0 1\n", 2, "is not modelled at DC"),
    # ngspice: "Fatal error: k1: coupling to non-existant inductor l9"
    ("coupling of no inductor", OK + "k1 l1 l9 0.9\nl1 a 0 1m\n", 4,
     "couples 'l9', which is not an inductor"),
    ("coupling of a resistor", OK + "l1 a b 1m\nr2 b 0 1k\nk1 l1 r2 0.9\n", 6,
     "couples 'r2', which is not an inductor"),
    ("coupling without a factor", OK + "l1 a 0 1m\nk1 l1 l1\n", 5,
     "expected two inductors and a coupling factor"),
    ("windows lib", OK + ".lib C:\\lt\\standard.dio\n", 4, "--include standard.dio"),
    ("rser on i", "t\ni1 a 0 1m Rser=1\nr1 a 0 1\n", 2, "Rser= is for voltage sources"),
    ("mosfet", OK + "m1 a a 0 0 nmos\n", 4, "MOSFETs (M) are out of scope"),
    ("jfet", OK + "j1 a a 0 jmod\n", 4, "element 'j1': JFETs (J) are out of scope"),
    ("mesfet", OK + "z1 a a 0 zmod\n", 4, "element 'z1': MESFETs (Z) are out of scope"),
    ("behavioural", OK + "b1 a 0 v={1}\n", 4, "behavioural sources (B) are out of scope"),
    ("unknown card", OK + ".foo 1 2\n", 4, "unknown card '.foo'"),
    # ngspice: "singular matrix: check node v2#branch", "instance v2 is a shorted VSRC"
    ("parallel sources", OK + "v2 a 0 2\n", 4, "v2: closes a loop of voltage sources"),
    ("source across an inductor", OK + "l1 a 0 1m\n", 4, "l1: closes a loop"),
    ("shorted source", OK + "v2 b b 0\nr2 b 0 1k\n", 4, "v2: closes a loop"),
    ("vcvs across a source", OK + "e1 a 0 a 0 2\n", 4, "e1: closes a loop"),
    ("func", "t\n.func f(x) {x}}\n" + OK.split("\n", 1)[1], 2, "unbalanced"),
    ("func args", "t\n.func f(x, x) {x}\n" + OK.split("\n", 1)[1], 2, "distinct names"),
    ("duplicate", OK + "R1 a 0 2k\n", 4, "duplicate element name 'r1'"),
    # ngspice takes a negative resistance (or m) as given: the kernel's are positive
    ("negative resistance", "t\nv1 a 0 1\nr1 a 0 -5k\n", 3,
     "negative resistance -5000 Ohm is not modelled (ngspice takes it as given"),
    ("negative resistance m", "t\nv1 a 0 1\nr1 a 0 1k m=-1\n", 3,
     "negative m is not modelled (ngspice takes it as a negative conductance"),
    # ngspice keeps only gmin across a zero-area junction (or opens it with RS)
    ("diode area 0", OK + "d1 a 0 dm area=0\n.model dm D\n", 4,
     "area=0 or m=0 is not modelled (ngspice keeps only its gmin"),
    ("diode m 0", OK + "d1 a 0 dm m=0\n.model dm D\n", 4, "area=0 or m=0 is not modelled"),
    ("diode negative area", OK + "d1 a 0 dm area=-1\n.model dm D\n", 4,
     "negative area or m is not modelled (ngspice 39 does not converge"),
    ("diode negative rs", OK + "d1 a 0 dm\n.model dm D(rs=-10)\n", 5,
     "negative rs is not modelled (ngspice takes it as a negative series resistance"),
    ("diode negative bv", OK + "d1 a 0 dm\n.model dm D(bv=-5)\n", 5,
     "bv=-5 is not modelled (a breakdown voltage must be > 0; ngspice 39 does not converge"),
    ("diode zero bv", OK + "d1 a 0 dm\n.model dm D(bv=0)\n", 5, "bv=0 is not modelled"),
    # ngspice: "Mismatch: 0 formal but 1 actual params."
    ("parameter of no parameters", OK + ".subckt s p q\nr9 p q 1\n.ends\nx1 a 0 s q=3\n", 7,
     "subcircuit 's' has no parameters, so q= cannot be given (ngspice refuses it too"),
    ("behavioural vcvs", OK + "e1 b 0 value={v(a)*2}\nr2 b 0 1k\n", 4,
     "e1: behavioural controlled sources (value=, vol=, cur=, table, laplace: B-source style) "
     "are not modelled"),
    ("behavioural vccs", OK + "g1 b 0 cur='v(a)*2m'\nr2 b 0 1k\n", 4,
     "g1: behavioural controlled sources"),
    ("continuation after include", "t\nv1 a 0 1\nr1 a\n.include ok.inc\n+ 0 1k\n", 5,
     "a continuation line '+' cannot follow .include (ngspice would glue it to the last line "
     "of the included file)"),
    ("dangling source", "t\nv1 a 0 1\nr1 a 0 1k\ni2 a b 1m\n", 4, "nowhere to go"),
    ("dangling ideal", "t\nv1 a 0 1\nr1 a 0 1k\nd1 a b di\n.model di D(Is=1e-14 N=0.02)\n"
     "*@diodenet model di ideal\n", 4, "undetermined"),
    ("floating", OK + "r2 b c 1k\nr3 b c 1k\n", 4, "no DC path to ground"),
    ("missing control", OK + "f1 a 0 vnone 2\n", 4, "controlling voltage source 'vnone'"),
    ("malformed number", "t\nv1 a 0 1\nr1 a 0 1.2.3\n", 3, "malformed number '1.2.3'"),
    ("digits after suffix", "t\nv1 a 0 1\nr1 a 0 10k5\n", 3, "malformed number '10k5'"),
    ("overflow number", "t\nv1 a 0 1e999\nr1 a 0 1\n", 2, "out of the floating-point range"),
    ("malformed expression", "t\nv1 a 0 1\nr1 a 0 {2*}\n", 3, "expected a value"),
    ("unknown parameter", "t\nv1 a 0 1\nr1 a 0 {zz*2}\n", 3, "unknown parameter 'zz'"),
    ("function not allowed", "t\nv1 a 0 {system(1)}\nr1 a 0 1\n", 2, "unknown function 'system'"),
    ("division by zero", "t\n.param k=0\nv1 a 0 1\nr1 a 0 {1/k}\n", 4, "division by zero"),
    ("domain", "t\nv1 a 0 {sqrt(-1)}\nr1 a 0 1\n", 2, "sqrt(-1.0) has no finite"),
    ("bad param", "t\n\n.param a=2 b={a*}\n" + OK[2:], 3, ".param"),
    ("param commas", "t\n.param a=1, b=2\n" + OK[2:], 2, "','"),
    ("bare parameter", "t\n.param rl=1k\nv1 a 0 1\nr1 a 0 rl\n", 4, "write {rl}"),
    ("unbalanced brace", "t\nv1 a 0 1\nr1 a 0 {1k\n", 3, "unbalanced '{'"),
    ("continued card", "t\nv1 a 0 1\n* comment\nr1 a\n+ 0\n\n+ {1/0}\n", 4, "division by zero"),
    ("unknown subckt", OK + "x1 a 0 nothere\n", 4, "unknown subcircuit 'nothere'"),
    ("recursive subckt", OK + ".subckt s p q\nx1 p q s\n.ends\nx9 a 0 s\n", 5,
     "instantiates itself"),
    ("unclosed subckt", OK + ".subckt s p q\nr1 p q 1\n", 4, "has no .ends"),
    ("unknown model", OK + "d1 a 0 dnone\n", 4, "diode model 'dnone' is not defined"),
    ("model type", OK + "d1 a 0 q1\n.model q1 NPN(bf=100)\n", 5, "type 'npn' is not modelled"),
    ("model parameter", OK + "d1 a 0 dm\n.model dm D(Is=1n foo=2)\n", 5, "unknown diode model"),
    ("model value", OK + "d1 a 0 dm\n.model dm D(N=0)\n", 4, "emission coefficient N"),
    ("note element", OK + "*@diodenet fixed r7\n", 4, "no element 'r7'"),
    ("note verb", OK + "*@diodenet frobnicate r1\n", 4, "unknown *@diodenet note"),
]


@pytest.mark.parametrize("text, line, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_with_line_number(text: str, line: int, fragment: str) -> None:
    exc = reject(text)
    assert exc.line == line, str(exc)
    assert fragment in exc.problem, str(exc)
    assert str(exc) == f"line {line}: {exc.problem}"


@pytest.mark.parametrize("text, line, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_cli_refusal_is_one_line_naming_file_and_line(tmp_path, text: str, line: int,
                                                      fragment: str) -> None:
    """The same inputs as files on the command line: exit 2, nothing on stdout,
    one line on stderr naming the file, the line and the reason, no traceback."""
    from click.testing import CliRunner

    from diodenet.cli.main import cli

    path = tmp_path / "bad.cir"
    path.write_text(text, encoding="utf-8")
    r = CliRunner().invoke(cli, ["simulate", str(path), "-q"])
    assert r.exit_code == 2, r.output
    assert r.stdout == "" and "Traceback" not in r.output
    (only,) = r.stderr.strip().splitlines()
    assert only.startswith(f"Error: {path}: line {line}: "), only
    assert fragment in only, only


def test_well_formed_base_is_accepted() -> None:
    # the cases above fail because of what they add, not because of OK itself
    c = parse_netlist(OK)
    assert [e.name for e in c] == ["v1", "r1"]


def test_message_format_for_duplicates() -> None:
    exc = reject("title\nv1 a 0 1\n\n* spacer\nr1 a 0 1k\nr1 a 0 2k\n")
    assert str(exc) == "line 6: duplicate element name 'r1' (first on line 5)"
    assert isinstance(exc, ValueError)  # the CLI and callers catch ValueError


def test_include_of_a_file_not_passed_is_refused_even_if_it_exists(tmp_path) -> None:
    part = tmp_path / "part.inc"
    part.write_text("r1 a 0 1k\n")
    main = tmp_path / "main.cir"
    main.write_text("t\nv1 a 0 1\n.include part.inc\n.end\n")
    with pytest.raises(NetlistError, match=r"line 3: \.include 'part\.inc' refused"):
        read_netlist(main)
    with pytest.raises(NetlistError, match="refused"):
        parse_netlist(main.read_text(), includes={"other.inc": "r1 a 0 1k\n"})
    c = read_netlist(main, includes=[part])
    assert c["r1"].resistance == 1e3


def test_problem_inside_an_included_file_points_at_the_include_card() -> None:
    text = "t\nv1 a 0 1\n\n.include lib.inc\n"
    exc = reject(text, includes={"lib.inc": "* header\nr1 a 0 {1/0}\n"})
    assert exc.line == 4
    assert exc.problem.startswith("in 'lib.inc' line 2: ") and "division by zero" in exc.problem


def test_self_include_is_refused() -> None:
    exc = reject("t\nv1 a 0 1\n.include a.inc\n", includes={"a.inc": ".include a.inc\n"})
    assert exc.line == 3 and "includes itself" in exc.problem


def test_empty_netlist() -> None:
    assert reject("").line == 1
    with pytest.raises(NetlistError):
        Circuit.from_spice("   \n")


def test_huge_expansion_is_refused() -> None:
    # 10 levels of 10 instances would be 10^10 resistors: refused, not expanded
    lines = ["t", "v1 a 0 1", "r0 a 0 1"]
    lines.append(".subckt s0 p\nr1 p 0 1k\nr2 p 0 1k\n.ends")
    for k in range(1, 11):
        body = "\n".join(f"x{i} p s{k - 1}" for i in range(10))
        lines.append(f".subckt s{k} p\n{body}\n.ends")
    lines.append("xtop a s10")
    exc = reject("\n".join(lines) + "\n")
    assert "more than" in exc.problem and "elements" in exc.problem


def test_deeply_nested_expression_is_refused_not_a_crash() -> None:
    deep = "(" * 500 + "1" + ")" * 500
    exc = reject(f"t\nv1 a 0 {{{deep}}}\nr1 a 0 1\n")
    assert exc.line == 2 and "nested deeper" in exc.problem


def test_coupled_inductors_inside_a_subcircuit_are_found() -> None:
    """A K card names the inductors of its own subcircuit; at DC the coupling
    does nothing, and each instance's inductors are shorts."""
    import warnings

    text = ("k\nv1 in 0 1\nx1 in 0 tr\nx2 in 0 tr\n.subckt tr a b\nr1 a c 1k\nl1 c d 1m\n"
            "l2 d b 1m\nk1 l1 l2 0.9\n.ends\n.end\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = parse_netlist(text)
    assert {"l.x1.l1", "l.x1.l2", "l.x2.l1", "l.x2.l2"} <= set(c.elements)


def test_white_space_control_characters_inside_a_line_are_spaces(tmp_path) -> None:
    """A CR, vertical tab or form feed inside a line is white space (ngspice's
    reading too); `compare` refused it, naming a line of the deck it generated
    ("netlist line 3 holds a control character") where `simulate` read it."""
    from diodenet.circuits.netlist.deck import user_cards
    from diodenet.simulators.ngspice.guard import check_netlist_lines

    for ch in "\r\v\f":
        path = tmp_path / "n.cir"
        path.write_text(f"t\nv1 a 0 1\nr1 a 0 {{1k{ch}}}\n.end\n", newline="")
        assert read_netlist(path)["r1"].resistance == 1e3
        cards, _ = user_cards(path)
        check_netlist_lines(["* diodenet compare", *cards, ".end"])
