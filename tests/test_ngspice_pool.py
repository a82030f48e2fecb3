"""The worker pool: a Dask cluster as the executor, recycling, and Ctrl-C
leaving no orphan or zombie processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from diodenet.simulators.ngspice import NgspicePool, NgspiceSimulator
from diodenet.testing import random_diode_network, random_inputs

SOURCES = ["v0", "v1", "v2", "v3"]


def test_dask_local_cluster_executor(ngspice_available: None) -> None:
    import distributed  # diodenet[dask]; `make setup` installs it
    net = random_diode_network(0)
    u = random_inputs(120)
    with NgspiceSimulator(net) as sim:
        expect = sim.operating_points(u, SOURCES)
    with distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        with NgspiceSimulator(net, executor=client.get_executor(), chunk_size=30) as sim:
            got = sim.operating_points(u, SOURCES)
        # each chunk ran in a Dask worker process, not here
        pids = set(client.run(os.getpid).values())
        assert os.getpid() not in pids and len(pids) == 2
    assert got.nodes == expect.nodes
    np.testing.assert_allclose(got.voltages, expect.voltages, atol=1e-9)


def test_pool_recycles_its_workers(ngspice_available: None) -> None:
    net = random_diode_network(0)
    u = random_inputs(100)
    with NgspiceSimulator(net) as sim:
        expect = sim.operating_points(u, SOURCES)
    pool = NgspicePool(2, recycle_after=50)  # 100 rows per generation of 2 workers
    try:
        with NgspiceSimulator(net, executor=pool, chunk_size=25) as sim:
            first = sim.operating_points(u, SOURCES)
            pids = set(pool.worker_pids())
            second = sim.operating_points(u, SOURCES)
            assert pool.restarts == 2
            assert pids.isdisjoint(pool.worker_pids())
    finally:
        pool.close()
    np.testing.assert_allclose(first.voltages, expect.voltages, atol=1e-9)
    np.testing.assert_allclose(second.voltages, expect.voltages, atol=1e-9)


CHILD = textwrap.dedent(
    """
    import sys
    from diodenet.simulators.ngspice import NgspiceSimulator
    from diodenet.testing import random_diode_network, random_inputs

    if __name__ == "__main__":
        src = ["v0", "v1", "v2", "v3"]
        sim = NgspiceSimulator(random_diode_network(0), workers=2, method="op", chunk_size=200)
        u = random_inputs(1_000_000)
        sim.operating_points(u[:4], src)
        print("READY", flush=True)
        try:
            sim.operating_points(u, src, progress=True)
        except KeyboardInterrupt:
            print("INTERRUPTED", flush=True)
            sys.exit(130)
        print("FINISHED", flush=True)
    """
)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive_or_zombie(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]  # process state: R, S, Z, ...


def test_ctrl_c_stops_cleanly(ngspice_available: None, tmp_path: Path) -> None:
    script = tmp_path / "long_batch.py"
    script.write_text(CHILD)
    # Its own session and process group, so the SIGINT reaches the whole group,
    # workers included, as a terminal's Ctrl-C does.
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )
    try:
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(1.0)  # the long batch is under way
        workers = _descendants(proc.pid)
        assert len(workers) >= 2
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "INTERRUPTED" in out and "FINISHED" not in out
    assert "Traceback" not in err
    # Processes orphaned by the exit are reaped by PID 1, which can take a moment.
    deadline = time.monotonic() + 15
    left = {p: _alive_or_zombie(p) for p in workers}
    while any(left.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
        left = {p: _alive_or_zombie(p) for p in workers}
    assert not any(left.values()), f"processes left behind (pid: state): {left}"


def test_small_signal_and_conductances_on_the_pool(ngspice_available: None) -> None:
    """The pool runs the same small-signal analyses as one process, with per-sample
    drive amplitudes split across chunks correctly, and sees conductance updates."""
    net = random_diode_network(0)
    u = random_inputs(40, seed=11)
    amps = np.linspace(-1e-3, 1e-3, len(u))
    results = []
    for workers in (1, 2):
        with NgspiceSimulator(net, workers=workers, ports=["n10"], chunk_size=7) as sim:
            sim.set_conductances({"r5": 1e-4})
            results.append(sim.small_signal(u, SOURCES, drive={sim.port("n10"): amps}))
    with NgspiceSimulator(net, ports=["n10"]) as sim:
        before = sim.small_signal(u, SOURCES, drive={sim.port("n10"): amps})
    one, two = results
    np.testing.assert_allclose(two.voltages, one.voltages, rtol=1e-9, atol=1e-15)
    assert np.max(np.abs(one.voltages - before.voltages)) > 1e-4  # r5 did change
    # a current pushed into n10 raises V(n10): the response follows the drive's sign
    assert np.all(np.sign(one.voltage("n10")) == np.sign(amps))


def test_a_ctrl_c_after_the_last_look_is_not_lost() -> None:
    """While a batch runs, Ctrl-C only sets a flag, read while waiting for
    chunks; one that came after the last read was dropped when the default
    handler came back (resumed ngspice runs went on to their last epoch)."""
    import pytest

    from diodenet.simulators.ngspice.pool import _sigint_as_flag

    with pytest.raises(KeyboardInterrupt), _sigint_as_flag() as flag:
        os.kill(os.getpid(), signal.SIGINT)
        assert flag.wait(5)  # the handler ran (on the main thread)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with _sigint_as_flag():  # and without a Ctrl-C nothing is raised
        pass
