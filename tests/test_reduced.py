"""Reduced solves ``(A_FF + diag g_F) x_F = rhs_F`` per sample: one factorisation,
both orientations, against plain per-sample dense solves."""

from __future__ import annotations

import pytest
import torch

from diodenet.solvers import _reduced
from diodenet.solvers._reduced import factor_reduced

torch.set_num_threads(1)
DT = torch.float64


@pytest.fixture(autouse=True, params=["sorted", "full size"])
def route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both routes: blocks gathered at each sample's ``|F|``
    and every sample at full size with identity rows off ``F``."""
    monkeypatch.setattr(_reduced, "PAD_ALL", 0 if request.param == "sorted" else 10**6)
    return request.param


def _plain(A: torch.Tensor, free: torch.Tensor, g: torch.Tensor,
           rhs: torch.Tensor) -> torch.Tensor:
    x = torch.zeros_like(rhs)
    for b in range(rhs.shape[0]):
        F = torch.nonzero(free[b]).squeeze(1)
        if F.numel():
            x[b, F] = torch.linalg.solve(A[F][:, F] + torch.diag(g[b, F]), rhs[b, F])
    return x


def _problem(symmetric: bool, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    n, batch = 14, 20
    R = torch.randn(n, n, generator=gen, dtype=DT)
    S = torch.randn(n, n, generator=gen, dtype=DT)
    A = R @ R.T / n + 0.5 * torch.eye(n, dtype=DT)
    if not symmetric:
        A = A + (S - S.T)  # monotone, not symmetric
    free = torch.rand(batch, n, generator=gen) < 0.6
    free[0] = True  # a full sample
    free[1] = False  # an empty one
    g = torch.rand(batch, n, generator=gen, dtype=DT)
    rhs = torch.randn(batch, n, generator=gen, dtype=DT)
    return A, free, g, rhs


@pytest.mark.parametrize("symmetric", [True, False])
def test_one_factorisation_solves_both_orientations(symmetric: bool) -> None:
    A, free, g, rhs = _problem(symmetric)
    f = factor_reduced(A, free, g, symmetric=symmetric)
    for transpose in (False, True):
        x = f.solve(rhs, transpose=transpose)
        truth = _plain(A.T if transpose else A, free, g, rhs)
        assert float((x - truth).abs().max()) <= 1e-12 * float(truth.abs().max())
    if not symmetric:  # the orientation matters here
        assert float((_plain(A, free, g, rhs) - _plain(A.T, free, g, rhs)).abs().max()) > 1e-3


def test_samples_cholesky_refuses_are_factored_by_lu() -> None:
    """A symmetric but indefinite block (a negative g) makes Cholesky fail for
    that sample: it is solved by LU, in both orientations."""
    A, free, g, rhs = _problem(True, seed=2)
    g[3] = -50.0
    free[3] = True
    f = factor_reduced(A, free, g, symmetric=True)
    assert any(c.lu_rows is not None for c in f.chunks)
    for transpose in (False, True):
        x = f.solve(rhs, transpose=transpose)
        truth = _plain(A, free, g, rhs)
        assert float((x - truth).abs().max()) <= 1e-10 * float(truth.abs().max())


@pytest.mark.parametrize("symmetric", [True, False])
def test_every_element_free(symmetric: bool) -> None:
    A, free, g, rhs = _problem(symmetric, seed=4)
    free[:] = True
    f = factor_reduced(A, free, g, symmetric=symmetric)
    for transpose in (False, True):
        truth = _plain(A.T if transpose else A, free, g, rhs)
        x = f.solve(rhs, transpose=transpose)
        assert float((x - truth).abs().max()) <= 1e-12 * float(truth.abs().max())


def test_right_hand_side_off_the_free_set_is_ignored() -> None:
    """Rows off ``F`` are clamped: whatever stands there, even a non-finite
    value, must not reach the free rows' answer."""
    A, free, g, rhs = _problem(True, seed=5)
    truth = _plain(A, free, g, rhs)
    rhs = rhs.masked_fill(~free, float("nan"))
    x = factor_reduced(A, free, g, symmetric=True).solve(rhs)
    assert float((x - truth).abs().max()) <= 1e-12 * float(truth.abs().max())
