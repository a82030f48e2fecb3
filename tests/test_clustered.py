"""Block elimination of ``G_ff`` over its clusters, against dense solves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import diodenet.linearization.builtin as builtin
from diodenet.kernels.clustered import ClusteredFactor, ClusterPlan, DenseLU, DiagonalFactor
from diodenet.kernels.stamped import StampedMNA
from diodenet.linearization import BuiltinHardware
from diodenet.training.architectures import build_network

torch.set_num_threads(1)


def _layered_G(**kwargs) -> tuple[BuiltinHardware, torch.Tensor]:
    """A layered network's hardware with its diode ports kept as free unknowns
    (as in a non-reciprocal network, where no port holds its node), and ``G_ff``."""
    net = build_network(12, 3, 100, scale=10.0, seed=2, **kwargs)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builtin, "StampedMNA",
                   lambda *a, **k: StampedMNA(*a, **{**k, "drive_ports": False}))
        hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    assert hw._st.port_driven.size == 0
    G = hw._st.restamp(hw.conductances(), ("ff",))["ff"]
    return hw, torch.as_tensor(np.asarray(G.toarray() if hasattr(G, "toarray") else G))


@pytest.mark.parametrize("transpose", [False, True])
def test_block_elimination_equals_a_dense_solve(transpose):
    hw, G = _layered_G()
    # each hidden node and its diode: a cluster
    assert isinstance(hw._programmed.G, ClusteredFactor)
    assert [tuple(g.shape) for g in hw._programmer.cluster_plan.groups] == [(100, 2)]
    rhs = torch.randn(G.shape[0], 5, generator=torch.Generator().manual_seed(0),
                      dtype=G.dtype)
    truth = torch.linalg.solve(G.T if transpose else G, rhs)
    x = hw._programmed.G.solve(rhs, transpose)
    assert float((x - truth).abs().max()) <= 1e-11 * float(truth.abs().max())


def test_hidden_nodes_tied_to_each_other_make_no_clusters():
    hw, _ = _layered_G(recurrent="dense")
    assert hw._programmer.cluster_plan is None and isinstance(hw._programmed.G, DenseLU)


def test_a_singular_block_is_refused_and_lu_pivots_past_it():
    # unknowns 0 and 1 form a cluster whose block [[0, 1], [1, 0]] is fine, 2 and 3
    # one whose block is singular; G itself is not (the coupling unknown 4 fixes it)
    G = torch.tensor([[0., 1, 0, 0, 1], [1, 0, 0, 0, 0], [0, 0, 1, 1, 1],
                      [0, 0, 1, 1, 0], [1, 0, 1, 0, 3]], dtype=torch.float64)
    rows, cols = np.nonzero(G.numpy())
    plan = ClusterPlan.of(rows, cols, 5, np.array([4]), min_size=0)
    assert plan is not None
    with pytest.raises(ValueError, match="singular"):
        plan.factor(G)
    rhs = torch.arange(5, dtype=torch.float64)[:, None]
    torch.testing.assert_close(DenseLU(G).solve(rhs), torch.linalg.solve(G, rhs))


def test_elimination_that_loses_accuracy_is_refused():
    # a tiny pivot in a cluster: elimination without pivoting cancels catastrophically
    G = torch.tensor([[1e-20, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=torch.float64)
    rows, cols = np.nonzero(G.numpy())
    plan = ClusterPlan.of(rows, cols, 3, np.array([2]), min_size=0)
    assert plan is not None
    with pytest.raises(ValueError, match="accuracy"):
        plan.factor(G)


@pytest.mark.parametrize("transpose", [False, True])
def test_a_nonsymmetric_matrix_is_eliminated_both_ways(transpose):
    """The layered network's G made non-symmetric on its pattern (as a
    controlled source would): the factor keeps a separate transposed coupling,
    and both orientations equal dense solves."""
    hw, G = _layered_G()
    gen = torch.Generator().manual_seed(1)
    G = G * (1 + 0.3 * torch.rand(G.shape, generator=gen, dtype=G.dtype))  # same pattern
    assert not torch.equal(G, G.T)
    f = hw._programmer.cluster_plan.factor(G)
    assert f.Z is not f.Y
    rhs = torch.randn(G.shape[0], 5, generator=gen, dtype=G.dtype)
    truth = torch.linalg.solve(G.T if transpose else G, rhs)
    assert float((f.solve(rhs, transpose) - truth).abs().max()) <= 1e-10 * float(truth.abs().max())


@pytest.mark.parametrize("transpose", [False, True])
def test_a_diagonal_free_block_is_divided(transpose):
    """With the hidden nodes held by their diodes' ports, a layered network's
    free unknowns are its output nodes, joined to no other free node: G_ff is
    diagonal and its solves are divisions, equal to dense solves."""
    net = build_network(12, 3, 100, scale=10.0, seed=2)
    hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    G = hw._st.restamp(hw.conductances(), ("ff",))["ff"]
    G = torch.as_tensor(np.asarray(G.toarray() if hasattr(G, "toarray") else G))
    assert torch.equal(G, torch.diag(G.diagonal()))
    assert isinstance(hw._programmed.G, DiagonalFactor)
    rhs = torch.randn(G.shape[0], 5, generator=torch.Generator().manual_seed(0),
                      dtype=G.dtype)
    truth = torch.linalg.solve(G.T if transpose else G, rhs)
    x = hw._programmed.G.solve(rhs, transpose)
    assert float((x - truth).abs().max()) <= 1e-14 * float(truth.abs().max())


@pytest.mark.parametrize("bad", [0.0, float("inf"), float("nan")])
def test_a_diagonal_block_with_a_dead_node_is_refused(bad):
    G = torch.diag(torch.tensor([2.0, bad, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="singular"):
        DiagonalFactor(G)
