"""Fuzzing the readers of untrusted input: netlists and the CLI's CSV files.

Whatever the text, the reader returns a circuit or raises ``NetlistError``
(one line, with a line number), and the CSV readers return numbers or raise
their one-line error; nothing else escapes, and time and memory stay bounded. The
examples are derandomized on CI (``conftest.py``).
"""

from __future__ import annotations

import time
import tracemalloc
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diodenet.circuits.netlist import NetlistError, NetlistWarning, parse_netlist
from diodenet.cli._io import read_csv_matrix
from diodenet.cli.main import UserError
from diodenet.training.datasets import DatasetError, load_csv

WORDS = [
    "r1", "r2", "d1", "v1", "i1", "e1", "f1", "g1", "h1", "x1", "xa", "c1", "l1", "b1", "q1",
    "a", "b", "0", "gnd", "/out", "net-(d1-pad2)", "1", "n>x", "`ls`", "$HOME",
    "1k", "1e3", "1e-310", "5e-324", "1e308", "1e1000000", "1e999999k", "-1", "0", "1meg",
    "1mil", "nan", "inf", "{1e1000000}", "{a*2}", "{1e-200*1e-200}", "'1+2'", "{", "}", "'",
    "dc", "ac", "pwl(0 1)", "sin(0 1 1k)", "dmod", "params:", "n=2", "=", "(", ")", ",",
    ".model", "dmod", "D(is=1e-14", "n=1.5)", "D", "(is=1n)", ".param", "a=1", "b={a+1}",
    ".subckt", "sub", ".ends", ".include", "f.inc", ".lib", ".endl", ".options", "gmin=1e-12",
    "reltol=1e9999999", ".control", ".endc", "shell", ".end", ".op", ".tran", ".title",
    "*ng_script", ".global", ".temp", "27", "+", ";", "$", "*@diodenet", "model", "ideal",
    "pwl", "vf=0.7", "fixed", "trainable", ".func", "\\", "\t",
]

cards = st.lists(st.sampled_from(WORDS), min_size=0, max_size=8).map(" ".join)
netlists = st.builds(
    lambda title, lines: "\n".join([title, *lines]),
    st.sampled_from(["t", "*ng_script", ".title x", "", "* c"]),
    st.lists(cards, min_size=0, max_size=14),
)
VALID = """fuzz base
.param rr=1k
.model dmod D(Is=1e-14 N=1.5)
.subckt cell in out params: g=1
r1 in out {rr}
d1 out 0 dmod
.ends cell
v1 a 0 dc 1
x1 a b cell
r2 b 0 2k
.end
"""
mutants = st.builds(
    lambda cuts: _mutate(VALID, cuts),
    st.lists(st.tuples(st.integers(0, len(VALID)), st.integers(0, 6),
                       st.text(max_size=6)), max_size=4),
)


def _mutate(text: str, cuts: list[tuple[int, int, str]]) -> str:
    for at, drop, insert in cuts:
        text = text[:at] + insert + text[at + drop:]
    return text


#: seconds one example may take: a few KB of text reads in milliseconds, and a
#: loaded CI machine is slower but not 1000x (an expansion bomb is minutes)
SECONDS = 10.0


def _read(text: str) -> None:
    start = time.perf_counter()
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NetlistWarning)
            parse_netlist(text, {"f.inc": "r9 a 0 1k\n.include f.inc\n"})
    except NetlistError as exc:
        assert "\n" not in str(exc) and exc.line >= 1, str(exc)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 50_000_000, peak  # a few KB of text never costs more
    assert time.perf_counter() - start < SECONDS, text


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(netlists)
def test_reader_fuzz_grammar(text: str) -> None:
    _read(text)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants)
def test_reader_fuzz_mutations(text: str) -> None:
    _read(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_reader_fuzz_any_text(text: str) -> None:
    _read(text)


cells = st.sampled_from(["1", "-2.5", "1e300", "-1e300", "1e999", "nan", "inf", "", " ",
                         "x", "0x10", "1,2", '"3"', "v1", "a", "label", "\ufeff1", "é"])
csv_texts = st.lists(st.lists(cells, min_size=0, max_size=4).map(",".join),
                     max_size=6).map("\n".join)
csv_bytes = st.one_of(csv_texts.map(str.encode), st.binary(max_size=64),
                      csv_texts.map(lambda t: t.encode("utf-16")))


@settings(max_examples=500, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=csv_bytes)
def test_csv_fuzz(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "in.csv"
    p.write_bytes(data)
    start = time.perf_counter()
    tracemalloc.start()
    try:
        try:
            names, values = read_csv_matrix(p)
            assert values.shape[1] == len(names)
        except UserError as exc:
            assert "\n" not in exc.message and str(p) in exc.message, exc.message
        try:
            load_csv(p)
        except DatasetError as exc:
            assert "\n" not in str(exc) and p.name in str(exc), str(exc)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 50_000_000, peak
    assert time.perf_counter() - start < SECONDS, data


@pytest.mark.parametrize("data", [b"v1\n\xff\xfe\n", "v1\n1\n".encode("utf-16")])
def test_csv_that_is_not_utf8_names_the_file(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "in.csv"
    p.write_bytes(data)
    with pytest.raises(UserError, match=f"^inputs CSV {p}: not utf-8 text .byte 0x"):
        read_csv_matrix(p)
    with pytest.raises(DatasetError, match=f"^{p}: not utf-8 text .byte 0x"):
        load_csv(p)


def test_features_too_large_to_standardise(tmp_path: Path) -> None:
    p = tmp_path / "in.csv"
    p.write_text("a,label\n1,0\n1e300,1\n-2,0\n")
    with pytest.raises(DatasetError, match=f"^{p}: line 3, column 'a': '1e300' is too large to "
                                           "standardise"):
        load_csv(p)


def test_reading_a_small_file_allocates_by_its_size(tmp_path: Path) -> None:
    """A five-byte CSV or netlist costs kilobytes, not its reader's size limit
    (a 1 GB up-front read buffer was a MemoryError under a memory limit)."""
    from diodenet._files import read_file_bytes

    for data in (b"", b"v1\n1\n", b"x" * 300_000):
        p = tmp_path / "f"
        p.write_bytes(data)
        tracemalloc.start()
        try:
            got = read_file_bytes(p, max_bytes=1_000_000_000)
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert got == data and peak < 2 * len(data) + 200_000, peak
    with pytest.raises(OSError, match="larger than 299999 bytes"):
        read_file_bytes(p, max_bytes=299_999)


def test_non_finite_labels_are_class_names(tmp_path: Path) -> None:
    p = tmp_path / "in.csv"
    p.write_text("a,label\n1,0\n2,inf\n3,0\n4,inf\n5,0\n6,inf\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy cast warning either
        ds = load_csv(p)
    assert ds.classes == ["0", "inf"]
    p.write_text("a,label\n1,10\n2,9\n3,10\n4,9\n")
    assert load_csv(p).classes == ["9", "10"]  # finite numbers still sort as numbers
