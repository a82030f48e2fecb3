"""The ctypes binding to libngspice: finding it, commands, errors, vectors, exit hygiene."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from diodenet.simulators.ngspice import (
    Ngspice,
    NgspiceConvergenceError,
    NgspiceError,
    NgspiceLibraryNotFound,
    find_library,
    get_ngspice,
)

DIVIDER = """divider
v1 in 0 dc 3
r1 in out 1k
r2 out 0 2k
.options reltol=1e-6 abstol=1e-15 vntol=1e-9
.end""".splitlines()


def test_bad_library_path_names_the_setup_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NGSPICE_LIBRARY_PATH", "/nonexistent/libngspice.so")
    with pytest.raises(NgspiceLibraryNotFound) as err:
        find_library()
    msg = str(err.value)
    assert "make setup" in msg and "ngspice libngspice0" in msg


def test_unloadable_library_names_the_setup_command(tmp_path) -> None:
    fake = tmp_path / "libngspice.so"
    fake.write_text("not a shared object")
    with pytest.raises(NgspiceLibraryNotFound, match="ngspice libngspice0"):
        Ngspice(library=str(fake))


def test_op_matches_closed_form_and_output_is_captured(ngspice_available: None) -> None:
    ng = get_ngspice()
    out = ng.load(DIVIDER)
    assert any("divider" in line.lower() for line in out)  # SendChar captured ngspice's echo
    plot = ng.analysis("op")
    assert plot.startswith("op")
    assert ng.vector("out")[0] == pytest.approx(3.0 * 2 / 3, abs=1e-12)
    # SPICE sign: current from + through the source to -, i.e. -3 V / 3 kΩ.
    assert ng.vector("v1#branch")[0] == pytest.approx(-1e-3, abs=1e-15)
    ng.destroy_plots()
    assert ng.current_plot() == "const"  # `destroy all` dropped the analysis plot
    assert any("circuit: divider" in line.lower() for line in ng.history)


def test_alter_then_op_sees_the_new_value(ngspice_available: None) -> None:
    ng = get_ngspice()
    ng.load(DIVIDER)
    ng.command("alter v1 dc=6")
    ng.analysis("op")
    assert ng.vector("out")[0] == pytest.approx(4.0, abs=1e-12)
    ng.destroy_plots()


def test_rejected_netlist_carries_ngspices_message(ngspice_available: None) -> None:
    ng = get_ngspice()
    with pytest.raises(NgspiceError) as err:
        ng.load(["bad", "r1 a 0 1k", "d1 a 0 nosuchmodel", ".end"])
    assert not isinstance(err.value, NgspiceConvergenceError)
    assert "valid modelname" in str(err.value)
    assert err.value.lines  # ngspice's own lines are kept
    ng.load(DIVIDER)  # and the instance still works
    ng.analysis("op")
    assert ng.vector("out")[0] == pytest.approx(2.0, abs=1e-12)
    ng.destroy_plots()


def test_nonconvergence_is_a_convergence_error(ngspice_available: None) -> None:
    # 50 V forced across an ideal-ish diode (Is = 1e-14 A, no series R): no finite
    # operating point ngspice can reach; it gives up after gmin and source stepping.
    ng = get_ngspice()
    ng.load(["forced diode", "v1 a 0 dc 50", "d1 a 0 dmod", ".model dmod d(is=1e-14)", ".end"])
    with pytest.raises(NgspiceConvergenceError) as err:
        ng.analysis("op")
    assert "stepping failed" in str(err.value)
    ng.destroy_plots()


def test_vectors_and_complex_ac(ngspice_available: None) -> None:
    ng = get_ngspice()
    ng.load(DIVIDER)
    ng.command("alter @v1[acmag]=1")
    plot = ng.analysis("ac lin 1 1 1")
    vecs = ng.vectors(plot)
    assert np.iscomplexobj(vecs["out"])
    assert vecs["out"][0] == pytest.approx(2 / 3, abs=1e-12)  # the divider ratio
    ng.destroy_plots()


def test_controlled_exit_does_not_kill_the_process(ngspice_available: None) -> None:
    # `quit` makes ngspice call ControlledExit; the process must survive and
    # later use must raise a clear error. Run in a child: the instance is spent.
    code = textwrap.dedent(
        """
        from diodenet.simulators.ngspice import get_ngspice, NgspiceError
        ng = get_ngspice()
        try:
            ng.command("quit")
        except NgspiceError:
            pass
        try:
            ng.command("op")
        except NgspiceError as exc:
            print("CLEAR:", exc)
        print("ALIVE")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "ALIVE" in proc.stdout
    assert "CLEAR:" in proc.stdout and "unusable" in proc.stdout


def test_commands_do_not_leak(ngspice_available: None) -> None:
    # Each ngSpice_Command leaves ~0.22 KB behind unless the binding frees it
    # (ngSpice_Command(NULL)): 30k commands would grow ~6.5 MB without the fix.
    code = textwrap.dedent(
        """
        from diodenet.simulators.ngspice import get_ngspice

        def rss_kb():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])

        ng = get_ngspice()
        ng.load(["leak", "v1 a 0 dc 1", "r1 a 0 1k", ".end"])
        for i in range(2000):  # warm up allocator pools
            ng.command(f"alter v1 dc={i * 1e-3!r}")
        before = rss_kb()
        for i in range(30000):
            ng.command(f"alter v1 dc={i * 1e-3!r}")
        print(rss_kb() - before)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) < 2048  # KB
