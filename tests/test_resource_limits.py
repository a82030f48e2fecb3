"""Inputs built to exhaust time or memory are refused quickly with one line; a
stopped ngspice worker cannot hang a batch."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from diodenet.circuits.netlist import (
    NetlistError,
    NetlistWarning,
    includes,
    lexer,
    parse_netlist,
    read_netlist,
    reader,
)
from diodenet.circuits.netlist.lexer import MAX_CARD_CHARS, MAX_CARDS
from diodenet.circuits.netlist.subckt import MAX_ELEMENTS
from diodenet.cli.main import cli
from diodenet.simulators.ngspice import NgspicePool, NgspiceSimulator, NgspiceWorkerError
from diodenet.testing import random_diode_network, random_inputs


def _nested_empty_subcircuits(levels: int = 10, fanout: int = 10) -> str:
    """``levels`` nested subcircuits, each instantiating the next ``fanout`` times,
    none holding an element: 10**10 instances in about 1.3 KB."""
    lines = ["instance bomb"]
    for k in range(levels):
        lines.append(f".subckt s{k} a")
        if k + 1 < levels:
            lines += [f"x{j} a s{k + 1}" for j in range(fanout)]
        lines.append(f".ends s{k}")
    lines += ["x0 n s0", "v1 n 0 1", "r1 n 0 1k", ".end"]
    return "\n".join(lines) + "\n"


def test_element_free_subcircuit_nesting_is_refused() -> None:
    text = _nested_empty_subcircuits()
    assert len(text) < 1500
    with pytest.raises(NetlistError, match=f"more than {MAX_ELEMENTS} elements and subcircuit "
                                           "instances"):
        parse_netlist(text)
    # a few instances are fine: 3 levels of 3 = 13 instances, no element
    parse_netlist(_nested_empty_subcircuits(3, 3))


def test_many_top_level_instances_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_ELEMENTS", 1000)  # the same check, at a smaller cap
    text = "t\n.subckt e a\n.ends\n" + "".join(f"x{k} n e\n" for k in range(1001)) + \
        "v1 n 0 1\nr1 n 0 1k\n.end\n"
    with pytest.raises(NetlistError, match="line 1004: more than 1000 elements and subcircuit "
                                           "instances"):
        parse_netlist(text)


def test_include_fan_out_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """10 small files, each including the next 8 times: 8**9 cards if expanded."""
    includes = {f"f{k}.inc": f".include f{k + 1}.inc\n" * 8 for k in range(9)}
    includes["f9.inc"] = "r9 a 0 1k\n"
    with pytest.raises(NetlistError, match=f"more than {MAX_CARDS} cards after expanding"):
        parse_netlist("t\n.include f0.inc\nv1 a 0 1\n.end\n", includes)
    monkeypatch.setattr(lexer, "MAX_CARDS", 1000)
    includes = {f"f{k}.inc": f".include f{k + 1}.inc\n" * 2 for k in range(5)}
    includes["f5.inc"] = "r9 a 0 1k\n"  # 2**5 = 32 cards of r9: under the cap
    text = "t\n.include f0.inc\nv1 a 0 1\n.end\n"
    with pytest.raises(NetlistError, match="duplicate element name 'r9'"):
        parse_netlist(text, includes)  # expanded (and then refused for what it holds)
    includes = {f"f{k}.inc": f".include f{k + 1}.inc\n" * 3 for k in range(6)}
    includes["f6.inc"] = "r9 a 0 1k\n"  # 3**6 = 729 cards, each copied 6 times: over
    with pytest.raises(NetlistError, match="more than 1000 cards after expanding"):
        parse_netlist(text, includes)


def test_include_fan_out_from_a_folder_reads_each_file_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same fan-out as files under --include-dir: each file is read from disk
    once however many .include cards name it (reading it again per card made a
    400-byte netlist take 40 s to refuse)."""
    for k in range(9):
        (tmp_path / f"f{k}.inc").write_text(f".include f{k + 1}.inc\n" * 8)
    (tmp_path / "f9.inc").write_text("r9 a 0 1k\n")
    (tmp_path / "top.cir").write_text("t\n.include f0.inc\nv1 a 0 1\n.end\n")
    reads: list[str] = []
    read_text = includes.read_text

    def counted(path: Path) -> str:
        reads.append(Path(path).name)
        return read_text(path)

    monkeypatch.setattr(includes, "read_text", counted)
    with pytest.raises(NetlistError, match=f"more than {MAX_CARDS} cards after expanding"):
        read_netlist(tmp_path / "top.cir", include_dir=tmp_path)
    # f0..f5 are read before the budget runs out (8**6 cards of f6 are too many);
    # the netlist itself is read once too
    assert sorted(reads) == sorted(set(reads)) and len(reads) <= 11, reads
    assert reads[0] == "top.cir"
    reads.clear()
    (tmp_path / "f2.inc").write_text("r9 a 0 1k\n")  # 8 * 8 = 64 copies of r9 under the cap
    with pytest.raises(NetlistError, match="duplicate element name 'r9'"):
        read_netlist(tmp_path / "top.cir", include_dir=tmp_path)
    assert sorted(reads) == ["f0.inc", "f1.inc", "f2.inc", "top.cir"]


def test_long_param_chains_are_linear() -> None:
    """30,000 chained .param cards (the old reader copied the scope per card)."""
    n = 30_000
    text = "t\n.param p0=1\n" + "".join(f".param p{k}={{p{k - 1}+1}}\n" for k in range(1, n)) \
        + f"v1 a 0 {{p{n - 1}}}\nr1 a 0 1k\n.end\n"
    c = parse_netlist(text)
    assert c["v1"].dc == float(n)
    # the same chain written backwards: ngspice sorts definitions by what they
    # read; resolving them by recursion stopped at Python's stack (about 50 deep)
    text = "t\n" + "".join(f".param p{k}={{p{k + 1}+1}}\n" for k in range(n - 1)) \
        + f".param p{n - 1}=1\nv1 a 0 {{p0}}\nr1 a 0 1k\n.end\n"
    assert parse_netlist(text)["v1"].dc == float(n)


def test_one_summarised_note_for_many_dropped_parameters() -> None:
    n = 100_000
    text = "t\nv1 a 0 1\nr1 a 0 1k\n.options " + " ".join(["keepopen"] * n) + "\n.end\n"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NetlistWarning)
        parse_netlist(text)
    notes = [str(w.message) for w in caught if issubclass(w.category, NetlistWarning)]
    assert len(notes) == 6
    assert notes[-1] == f"line 4: {n - 5} more notes not shown (from line 4 on)"
    assert all(m.startswith("line 4: option 'keepopen' without a value") for m in notes[:5])


def test_long_lines_are_refused() -> None:
    with pytest.raises(NetlistError, match=f"line 2: line longer than {MAX_CARD_CHARS}"):
        parse_netlist("t\nr1 a 0 1k " + "x" * MAX_CARD_CHARS + "\n.end\n")
    cont = "\n".join("+ " + "y" * 100_000 for _ in range(12))
    with pytest.raises(NetlistError, match=f"line 2: card longer than {MAX_CARD_CHARS}"):
        parse_netlist(f"t\nr1 a 0 1k\n{cont}\n.end\n")


@pytest.mark.parametrize("kind", ["fifo", "dir", "dev"])
def test_inputs_that_are_not_regular_files_are_refused(tmp_path: Path, kind: str) -> None:
    net = tmp_path / "n.cir"
    net.write_text("t\nv1 a 0 1\nr1 a 0 1k\n.end\n")
    if kind == "fifo":
        odd = tmp_path / "in.csv"
        os.mkfifo(odd)
        assert stat.S_ISFIFO(odd.stat().st_mode)
        what = "not a regular file (a FIFO)"
    elif kind == "dir":
        odd = tmp_path / "d"
        odd.mkdir()
        what = "not a regular file (a directory)"
    else:
        odd = Path("/dev/zero")
        what = "not a regular file (a device)"
    runner = CliRunner()
    for args, prefix in (
        (["simulate", str(net), "--inputs", str(odd)], f"inputs CSV {odd}"),
        (["train", "--csv", str(odd), "--out", str(tmp_path / "o")], f"{odd}"),
        (["simulate", str(net), "--include", str(odd)], f"{odd}"),
    ):
        res = runner.invoke(cli, args)
        assert res.exit_code == 2, res.output
        line = res.output.strip()
        assert "\n" not in line and line.startswith("Error: "), res.output
        if kind != "dir" or args[0] != "train":  # click refuses a directory for --csv itself
            assert f"{prefix}: {what}" in line or "is a directory" in line, line
    with pytest.raises(OSError, match="not a regular file"):
        read_netlist(odd)
    assert not (tmp_path / "o").exists()


def test_a_stopped_worker_times_out_and_the_pool_recovers(ngspice_available: None) -> None:
    """The pool's only worker is stopped (SIGSTOP) before a batch: no chunk can
    finish, so after ``chunk_timeout`` the worker is killed (not left stopped),
    the batch raises NgspiceWorkerError, and the next batch runs on a fresh one.
    (With several workers a healthy one may take every chunk; the timeout
    matters when the stopped one holds a chunk or the task queue.)"""
    net = random_diode_network(0)
    u = random_inputs(2000)
    sources = ["v0", "v1", "v2", "v3"]
    pool = NgspicePool(1, chunk_timeout=3.0)
    try:
        with NgspiceSimulator(net, executor=pool, method="op", chunk_size=200) as sim:
            first = sim.operating_points(u[:8], sources)  # the worker is up
            (victim,) = pool.worker_pids()
            os.kill(victim, signal.SIGSTOP)
            try:
                with pytest.raises(NgspiceWorkerError, match="no ngspice chunk finished for "
                                                             "3 s"):
                    sim.operating_points(u, sources)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(victim, signal.SIGCONT)
            with pytest.raises(ProcessLookupError):
                os.kill(victim, 0)  # killed and reaped, not left stopped
            again = sim.operating_points(u[:8], sources)  # a fresh worker
            assert victim not in pool.worker_pids()
    finally:
        pool.close()
    np.testing.assert_allclose(again.voltages, first.voltages, atol=1e-9)


def test_the_mnist_classifier_netlist_is_within_the_limits() -> None:
    """``diodenet train --dataset mnist`` writes a 784-128-10 classifier of
    205,258 elements; the reader takes it back whole (the element cap once
    stopped at 200,000)."""
    from diodenet.circuits.netlist import write_netlist
    from diodenet.training.architectures import build_network

    net = build_network(784, 10, 128, scale=10.0, seed=0)
    circuit = parse_netlist(write_netlist(net.circuit))
    assert len(circuit) == len(net.circuit) > 200_000
    assert circuit == net.circuit
