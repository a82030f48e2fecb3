"""Random kernels for the solver tests (not a test module)."""

from __future__ import annotations

import itertools

import torch

from diodenet.activations import Nonlinearity
from diodenet.kernels import Kernel

DT = torch.float64


def monotone_H(n: int, seed: int, *, margin: float = 0.5, skew: float = 0.5,
               scale: float = 1.0) -> torch.Tensor:
    """``H = scale·(mI + AᵀA/n + skew·(S - Sᵀ))``: resistors/transformers plus gyrators."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=DT)
    S = torch.randn(n, n, generator=g, dtype=DT) / n**0.5
    return scale * (margin * torch.eye(n, dtype=DT) + A.T @ A / n + skew * (S - S.T))


def resistor_H(n: int, seed: int, *, scale: float = 1e-3) -> torch.Tensor:
    """A random resistor network Kron-reduced onto the diodes: a symmetric M-matrix (S)."""
    g = torch.Generator().manual_seed(seed)
    G = torch.rand(n, n, generator=g, dtype=DT) * (torch.rand(n, n, generator=g) < 0.5)
    G = torch.triu(G, 1)
    G = G + G.T
    ground = 0.05 + torch.rand(n, generator=g, dtype=DT)
    return scale * (torch.diag(G.sum(1) + ground) - G)


def kernel(H: torch.Tensor, m: int, seed: int, elements: list[Nonlinearity] | None = None,
           *, b_scale: float | None = None) -> Kernel:
    """Kernel with random B (n×m) of the same scale as H, C = I, D = 0."""
    n = H.shape[0]
    g = torch.Generator().manual_seed(seed + 1)
    scale = float(H.diagonal().abs().mean()) if b_scale is None else b_scale
    B = scale * torch.randn(n, m, generator=g, dtype=DT)
    return Kernel(H, B, torch.eye(n, dtype=DT), torch.zeros(n, m, dtype=DT), elements)


def inputs(batch: int, m: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + 2)
    return torch.randn(batch, m, generator=g, dtype=DT)


def lcp_brute_force(H: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The ideal-diode equilibrium by enumerating every conducting set (small n only).

    Finds the set P with ``z_P = -H_PP⁻¹ q_P >= 0`` and ``w = Hz + q >= 0``
    off P: the LCP solution, independent of every solver under test.
    """
    n = H.shape[0]
    for size in range(n + 1):
        for P in itertools.combinations(range(n), size):
            z = torch.zeros(n, dtype=DT)
            if P:
                idx = torch.tensor(P)
                z[idx] = torch.linalg.solve(H[idx][:, idx], -q[idx])
            w = H @ z + q
            tol = 1e-12 * (1 + q.abs().max())
            if (z >= -tol).all() and (w >= -tol).all():
                return z
    raise AssertionError("no complementary solution found")


# ---- checks of the generators themselves, so the solver tests stand on firm ground


def test_resistor_H_is_an_M_matrix() -> None:
    H = resistor_H(12, 3)
    off = H - torch.diag(H.diagonal())
    assert (off <= 0).all()
    assert torch.allclose(H, H.T)
    # strictly diagonally dominant rows (the ground resistors) ⇒ positive definite
    assert (H.diagonal() > off.abs().sum(1)).all()
    assert float(torch.linalg.eigvalsh(H).min()) > 0


def test_monotone_H_margin() -> None:
    H = monotone_H(10, 4, margin=0.3, skew=2.0)
    sym = 0.5 * (H + H.T)
    assert float(torch.linalg.eigvalsh(sym).min()) >= 0.3 - 1e-12
    assert float((H - H.T).abs().max()) > 0.1  # the gyrators are there


def test_brute_force_matches_closed_form_for_one_diode() -> None:
    # one diode: z = max(0, -q/h)
    H = torch.tensor([[2.0]], dtype=DT)
    assert float(lcp_brute_force(H, torch.tensor([-3.0], dtype=DT))[0]) == 1.5
    assert float(lcp_brute_force(H, torch.tensor([3.0], dtype=DT))[0]) == 0.0
