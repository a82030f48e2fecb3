"""Each failure gives a clear error and leaves the pool usable: a netlist that
does not converge, one ngspice rejects, and a worker killed mid-batch."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from diodenet.circuits.netlist import NetlistError
from diodenet.simulators.ngspice import (
    NgspiceConvergenceError,
    NgspiceError,
    NgspicePool,
    NgspiceSimulator,
    NgspiceWorkerError,
)
from diodenet.simulators.ngspice.engine import Task
from diodenet.simulators.ngspice.netlist_edit import NetlistSpec
from diodenet.testing import random_diode_network, random_inputs

# A diode (Is = 1e-14 A, no series resistance) forced by an ideal source: at 50 V
# there is no operating point ngspice can reach (gmin and source stepping fail).
FORCED = """forced diode
v1 a 0 dc 0
r1 a 0 1k
d1 a 0 dmod
.model dmod d(is=1e-14)
.end
"""
REJECTED = """unknown model
v1 a 0 dc 1
r1 a b 1k
d1 b 0 nosuchmodel
.end
"""
GOOD = """divider
v1 a 0 dc 1
r1 a b 1k
r2 b 0 1k
.end
"""


@pytest.fixture(scope="module")
def pool() -> NgspicePool:
    p = NgspicePool(2)
    yield p
    p.close()


def _good_batch_works(pool: NgspicePool) -> None:
    with NgspiceSimulator(GOOD, executor=pool) as sim:
        op = sim.operating_points(np.array([[1.0], [3.0], [-2.0]]), ["v1"])
    np.testing.assert_allclose(op.voltage("b"), [0.5, 1.5, -1.0], atol=1e-12)


@pytest.mark.parametrize("method", ["sweep", "op"])
def test_nonconvergence_names_the_sample_in_process(ngspice_available: None, method: str) -> None:
    with NgspiceSimulator(FORCED, method=method) as sim:
        with pytest.raises(NgspiceConvergenceError) as err:
            sim.operating_points(np.array([[0.1], [0.3], [50.0], [0.2]]), ["v1"])
        assert err.value.sample == 2
        assert "sample 2" in str(err.value) and "stepping failed" in str(err.value)
        ok = sim.operating_points(np.array([[0.1], [0.3]]), ["v1"])  # still usable
    assert np.all(np.abs(ok.voltage("a") - [0.1, 0.3]) < 1e-12)


def test_nonconvergence_in_the_pool(ngspice_available: None, pool: NgspicePool) -> None:
    u = np.full((40, 1), 0.2)
    u[27, 0] = 50.0
    with NgspiceSimulator(FORCED, executor=pool, chunk_size=10) as sim:
        with pytest.raises(NgspiceConvergenceError) as err:
            sim.operating_points(u, ["v1"])
        assert err.value.sample == 27
        assert err.value.lines  # ngspice's own words travel back from the worker
    _good_batch_works(pool)


def test_rejected_netlist_in_the_pool(ngspice_available: None, pool: NgspicePool) -> None:
    # the safe reader refuses it before ngspice could see it
    with pytest.raises(NetlistError, match="line 4: diode model 'nosuchmodel' is not defined"):
        NgspiceSimulator(REJECTED, executor=pool)
    # a spec that reaches ngspice anyway (split without the reader) is rejected
    # by ngspice in the worker, and the error comes back as ngspice's
    spec = NetlistSpec._split(REJECTED)
    pids = set(pool.worker_pids())
    with pytest.raises(NgspiceError) as err:
        pool.run([Task("op", spec, ("v1",), np.ones((5, 1)))], lambda _n: None)
    assert not isinstance(err.value, NgspiceConvergenceError)
    assert "modelname" in str(err.value)
    _good_batch_works(pool)
    if pids:
        assert set(pool.worker_pids()) == pids  # the workers survived


def test_worker_killed_mid_batch(ngspice_available: None) -> None:
    net = random_diode_network(0)
    u = random_inputs(40_000)
    with NgspiceSimulator(net, workers=2, method="op", chunk_size=500) as sim:
        sim.operating_points(u[:4], ["v0", "v1", "v2", "v3"])  # workers up
        victims = sim.pool.worker_pids()
        assert len(victims) == 2
        caught: list[BaseException] = []

        def batch() -> None:
            try:
                sim.operating_points(u, ["v0", "v1", "v2", "v3"])
            except BaseException as exc:  # handed to the test thread
                caught.append(exc)

        t = threading.Thread(target=batch)
        t.start()
        time.sleep(0.5)  # 40k cold ops take several seconds: the batch is running
        os.kill(victims[0], signal.SIGKILL)
        t.join(timeout=120)
        assert not t.is_alive()
        assert len(caught) == 1 and isinstance(caught[0], NgspiceWorkerError)
        assert "died" in str(caught[0])
        op = sim.operating_points(u[:100], ["v0", "v1", "v2", "v3"])  # fresh workers
        assert victims[0] not in sim.pool.worker_pids()
    with NgspiceSimulator(net) as ref:
        expect = ref.operating_points(u[:100], ["v0", "v1", "v2", "v3"])
    np.testing.assert_allclose(op.voltages, expect.voltages, atol=1e-9)
