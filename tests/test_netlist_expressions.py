"""Numbers and .param expressions: by hand, against Python arithmetic, and against ngspice."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diodenet.circuits.netlist import ExpressionError, evaluate, parse_number
from diodenet.circuits.netlist.definitions import parse_assignments


@pytest.mark.parametrize("text, value", [
    ("10kOhm", 1e4), ("1uF", 1e-6), ("5mV", 5e-3), ("1e3", 1e3), ("1meg", 1e6), ("1MEG", 1e6),
    ("2.2k", 2200.0), ("1.1k", 1100.0), ("3n", 3e-9), ("4p", 4e-12), ("1f", 1e-15),
    ("1F", 1e-15), ("7g", 7e9), ("2t", 2e12), ("-1.5", -1.5), ("+.5", 0.5), ("1e-3k", 1.0),
    ("10V", 10.0), ("1mil", 25.4e-6), ("0", 0.0), ("5e-324", 5e-324),
])
def test_numbers_with_suffixes(text: str, value: float) -> None:
    assert parse_number(text) == pytest.approx(value, rel=1e-15, abs=0)


@pytest.mark.parametrize("bad", ["", "k", "1.2.3", "1e", "10k5", "1e999", "--1", "0x10", "1,5"])
def test_malformed_numbers(bad: str) -> None:
    with pytest.raises(ExpressionError):
        parse_number(bad)


def test_repr_of_every_float_reads_back_exactly() -> None:
    for x in (0.1, 1 / 3, 1e-300, 5e-324, 1.7976931348623157e308, -2.5e-17, 123456789.123):
        assert parse_number(repr(x)) == x


def test_never_eval() -> None:
    for hostile in ("__import__('os').system('true')", "().__class__", "open('x')",
                    "a;b", "lambda: 1", "[1]"):
        with pytest.raises(ExpressionError):
            evaluate(hostile, {"a": 1.0, "b": 2.0})


def test_assignments_see_earlier_ones() -> None:
    assert parse_assignments("a=2 b={a*3} c='b+1'") == {"a": 2.0, "b": 6.0, "c": 7.0}
    assert parse_assignments("x = a + 1", {"a": 1.0}) == {"x": 2.0}
    with pytest.raises(ExpressionError, match="function name"):
        parse_assignments("sqrt=2")


# -- property: random expression trees against Python's own arithmetic --------

leaves = st.floats(min_value=0.01, max_value=100.0, allow_nan=False).map(lambda x: round(x, 3))


def _trees(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(st.sampled_from("+-*/"), children, children) | st.tuples(
        st.sampled_from(["neg", "abs", "sqrt"]), children)


trees = st.recursive(leaves, _trees, max_leaves=12)


def _render(t: object) -> str:
    if isinstance(t, float):
        return repr(t)
    op, *args = t  # type: ignore[misc]
    if op == "neg":  # in parentheses: ngspice 39 misreads "a*-(b)" (see below)
        return f"(-({_render(args[0])}))"
    if op in ("abs", "sqrt"):
        return f"{op}({_render(args[0])})"
    return f"({_render(args[0])} {op} {_render(args[1])})"


def _value(t: object) -> float:
    if isinstance(t, float):
        return t
    op, *args = t  # type: ignore[misc]
    a = _value(args[0])
    if op == "neg":
        return -a
    if op == "abs":
        return abs(a)
    if op == "sqrt":
        return math.sqrt(a)
    b = _value(args[1])
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    return a * b if op == "*" else a / b


@settings(max_examples=200, deadline=None)
@given(trees)
def test_random_expressions_match_python_arithmetic(tree: object) -> None:
    try:
        expected = _value(tree)
    except (ZeroDivisionError, ValueError):
        with pytest.raises(ExpressionError):
            evaluate(_render(tree))
        return
    if not math.isfinite(expected):
        with pytest.raises(ExpressionError):
            evaluate(_render(tree))
        return
    assert evaluate("{" + _render(tree) + "}") == expected


# -- against ngspice itself ---------------------------------------------------

NGSPICE_CASES = [
    "2^3^2", "2**-1", "-2^2+10", "10-2-3", "100/10/2", "2k*3", "3mil", "log(100)", "ln(10)",
    "log10(2)", "exp(1)", "sqrt(2)", "abs(-3)", "min(3,2)", "max(-1,-5)", "pow(2,0.5)",
    "sin(1)", "cos(1)", "tan(1)", "tanh(0.5)", "atan(1)", "sinh(1)", "cosh(1)", "floor(2.7)",
    "ceil(-2.2)", "-(1+2)*3/4", "1meg/1k", "(1+2)^2*-1", "a*b-a/b",
    "pwr(-2,3)", "pwr(-2,0.5)", "pwr(a,b)", "sgn(-3)", "sgn(0)", "sgn(a)", "nint(2.5)",
    "nint(-3.5)", "nint(2.4)", "int(-2.7)", "int(2.7)",
    # what ngspice 39 reads as written: a sign before a number, one at the start
    # or after "(", ?: chained in false branches or nested in parentheses
    "1 ? -7 : -3", "0 ? -7 : 3", "2+-3", "3--2", "- -3", "-(7)", "-abs(4)+1", "2^-3^2",
    "0 ? 1 : 0 ? 4 : 0 ? 6 : 7", "0 ? 1 : 1 ? 4 : 5", "1 ? 1 : 1 ? 4 : 5",
    "(1 ? 2 : 3) + 4", "1 < 0 || 1 ? 2 : 3", "!1 ? 2 : 3", "max(0 ? 1 : 2, 1 ? 3 : 4)",
    # the unambiguous spellings the refusals below suggest
    "0 ? (-(7)) : 3", "1 ? (-abs(4)) : 3", "0 ? 2 : (-abs(4))", "2*(-(3))+4",
    "1 ? (0 ? 5 : 6) : 7", "1 ? 1 : (0 ? (0 ? 0 : 2) : 0.5)", "2*(-3^2)", "2*(-3)^2",
]


def test_expressions_agree_with_ngspice(tmp_path: Path, ngspice_available) -> None:
    """Each expression drives a current source into 1 ohm: ngspice prints its value."""
    lines = ["expressions", ".param a=3 b=4"]
    for k, expr in enumerate(NGSPICE_CASES):
        lines += [f"i{k} 0 n{k} {{{expr}}}", f"r{k} n{k} 0 1"]
    lines += [".op", ".end"]
    path = tmp_path / "expr.cir"
    path.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(["ngspice", "-b", str(path)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got: dict[str, float] = {}
    for line in proc.stdout.splitlines():
        words = line.split()
        if len(words) == 2 and words[0].startswith("n") and words[0][1:].isdigit():
            got[words[0]] = float(words[1])
    assert len(got) == len(NGSPICE_CASES), proc.stdout
    for k, expr in enumerate(NGSPICE_CASES):
        ours = evaluate(expr, {"a": 3.0, "b": 4.0})
        assert got[f"n{k}"] == pytest.approx(ours, rel=1e-6, abs=1e-12), expr


@pytest.mark.parametrize("funcs", [
    ".func f(x)={f(x)}",                              # calls itself
    ".func f(x)={g(x)}\n.func g(x)={f(x)}",           # two that call each other
    ".func f1(x)={x}\n" + "\n".join(                  # each calls the last twice: 2**16 calls
        f".func f{i}(x)={{f{i - 1}(x)+f{i - 1}(x)}}" for i in range(2, 17)),
])
def test_runaway_user_functions_are_one_line_errors(funcs: str) -> None:
    """A .func that recurses, or a chain whose calls double at each level, is
    refused on the card that calls it (no RecursionError, no 2**n evaluations)."""
    from diodenet.circuits.netlist import NetlistError, parse_netlist

    top = funcs.splitlines()[-1].split("(")[0].split()[-1]
    text = f"t\n{funcs}\nv1 in 0 1\nr1 in 0 {{{top}(1)}}\n.end\n"
    with pytest.raises(NetlistError, match=r"r1 value: .*(nested deeper|user-function calls)"):
        parse_netlist(text)


def _ngspice_param(expr: str, tmp: Path) -> float | None:
    """ngspice's value of ``.param p={expr}`` (None: ngspice stops with an error)."""
    path = tmp / "param.cir"
    path.write_text(f"t\n.param p={{{expr}}}\nv1 1 0 {{p}}\nr1 1 0 1k\n.control\n"
                    "set numdgt=15\nop\nprint v(1)\n.endc\n.end\n")
    proc = subprocess.run(["ngspice", "-b", str(path)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    for line in proc.stdout.splitlines():
        if line.startswith("v(1) = "):
            return float(line.split()[-1])
    return None


# functions and operators of ngspice 39's expressions, with its values
@pytest.mark.parametrize("expr", [
    "asin(0.5)", "acos(0.5)", "acos(-1)", "arctan(1)", "asinh(1)", "asinh(-1e300)",
    "acosh(2)", "atanh(0.5)", "sqr(-3)", "ternary_fcn(0, 2, 3)", "ternary_fcn(1, 2, 3)",
    "7 % 2", "-7 % 2", "7.5 % 2", "7 % -2", "-7.5 % -2", "2 + 7 % 4 * 3", "2*7 % 4",
    "7 % 4 ^ 2", "(-2)^3", "(-2)^0.5", "(-2)**3",
])
def test_functions_and_operators_agree_with_ngspice(expr: str, tmp_path: Path,
                                                    ngspice_available) -> None:
    truth = _ngspice_param(expr, tmp_path)
    assert truth is not None, expr
    assert evaluate(expr) == pytest.approx(truth, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("expr", [
    "acos(2)", "asin(-2)", "acosh(0.5)", "atanh(1)", "atanh(2)", "7 % 0", "1e300 % 1e-300",
])
def test_domain_errors_are_refused_where_ngspice_stops(expr: str, tmp_path: Path,
                                                       ngspice_available) -> None:
    from diodenet.circuits.netlist import NetlistError, parse_netlist

    assert _ngspice_param(expr, tmp_path) is None
    with pytest.raises(NetlistError, match=r"^line 2: \.param: .*(no finite real value|"
                                           r"modulo by zero|not finite)"):
        parse_netlist(f"t\n.param p={{{expr}}}\nv1 1 0 {{p}}\nr1 1 0 1k\n.end\n")


# what ngspice 39 reads otherwise than written: (expression, ngspice's value or
# None where it stops, the written value, the refusal)
_SIGN = r"ngspice 39 misreads '.-' before .* write \(-\.\.\.\) in parentheses"
_NESTED = r"ngspice 39 misreads a '\?:' inside the true branch of another"
MISREAD = [
    ("0 ? -(7) : 3", -3.0, 3.0, _SIGN),
    ("1 ? -abs(4) : 3", 4.0, -4.0, _SIGN),
    ("0 ? -sqrt(4) : 3", -3.0, 3.0, _SIGN),
    ("(0 ? -(7) : 3)*2", -6.0, 6.0, _SIGN),
    ("((-(7)>3) ? -(7) : 3+1)", -2.0, 4.0, _SIGN),
    ("0 ? 2 : -abs(4)", None, -4.0, _SIGN),
    ("2*-(3)+4", 2.0, -2.0, _SIGN),
    ("2*-sqrt(4)+1", 3.0, -3.0, _SIGN),
    ("2^-(1)", None, 0.5, _SIGN),
    ("- -(3)", None, 3.0, _SIGN),
    ("2*-3^2", 18.0, -18.0,
     r"ngspice 39 reads '\*-' before a number as that number's sign, so -x\^y "
     r"there is \|x\|\^y: write \(-x\^y\) or \(-x\)\^y"),
    ("2*-2^3", 16.0, -16.0, r"ngspice 39 reads .* so -x\^y there is \|x\|\^y"),
    ("2*+3", None, 6.0, r"ngspice 39 refuses '\*\+'"),
    ("!-1", None, 0.0, r"ngspice 39 refuses '!-'"),
    ("1 ? 0 ? 5 : 6 : 7", 5.0, 6.0, _NESTED),
    ("1 ? 1 : 0 ? 0 ? 0 : 2 : 0.5", 0.0, 1.0, _NESTED),
    ("1 ? 1 : 1 ? 0 ? 0 : 2 : 0.5", 0.0, 1.0, _NESTED),
]


@pytest.mark.parametrize("expr, ngspice, written, problem", MISREAD)
def test_what_ngspice_misreads_is_refused(expr: str, ngspice: float | None, written: float,
                                          problem: str, tmp_path: Path,
                                          ngspice_available) -> None:
    from diodenet.circuits.netlist import NetlistError, parse_netlist

    truth = _ngspice_param(expr, tmp_path)
    assert truth == (None if ngspice is None else pytest.approx(ngspice, abs=1e-9)), truth
    assert ngspice != written
    with pytest.raises(NetlistError, match=r"^line 2: \.param: " + problem):
        parse_netlist(f"t\n.param p={{{expr}}}\nv1 1 0 {{p}}\nr1 1 0 1k\n.end\n")
