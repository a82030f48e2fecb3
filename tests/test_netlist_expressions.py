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
    if op == "neg":
        return f"-({_render(args[0])})"
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
