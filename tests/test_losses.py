"""The losses' closed-form value and gradient, against autograd on their own
torch expressions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diodenet.linearization import loss_gradient
from diodenet.training.losses import make_loss


def _autograd(loss, y: np.ndarray) -> tuple[float, np.ndarray]:
    yt = torch.tensor(y, dtype=torch.float64, requires_grad=True)
    value = loss(yt)
    (g,) = torch.autograd.grad(value, yt)
    return float(value.detach()), g.numpy()


@pytest.mark.parametrize("kind", ["ce", "mse"])
@pytest.mark.parametrize("batch", [1, 7, 64])
@pytest.mark.parametrize("temperature", [0.05, 1.0])
def test_the_closed_form_equals_autograd(kind, batch, temperature):
    rng = np.random.default_rng(batch)
    labels = rng.integers(0, 10, batch)
    loss = make_loss(kind, labels, temperature, 10)
    y = rng.normal(scale=3.0, size=(batch, 10))  # logits up to ~200 at T = 0.05
    value, g = loss.value_and_gradient(y)
    value_ag, g_ag = _autograd(loss, y)
    assert value == pytest.approx(value_ag, rel=1e-12, abs=1e-300)
    # entrywise, up to round-off on the scale of the largest (p - 1 cancels near p = 1)
    np.testing.assert_allclose(g, g_ag, rtol=1e-10, atol=1e-13 * np.abs(g_ag).max())
    # and loss_gradient takes the closed form
    v2, g2 = loss_gradient(loss, y)
    assert v2 == value and np.array_equal(g2, g)


def test_a_plain_callable_loss_is_differentiated_by_autograd():
    y = np.array([[0.5, -1.0], [2.0, 0.0]])
    value, g = loss_gradient(lambda t: (t ** 3).sum(), y)
    assert value == pytest.approx(float((y ** 3).sum()))
    np.testing.assert_allclose(g, 3 * y ** 2)


@pytest.mark.parametrize("kind", ["ce", "mse"])
def test_labels_and_outputs_must_match_one_to_one(kind: str) -> None:
    """A column of labels (as a CSV column reads) gave cross-entropy 4.394 for
    ln 3 = 1.099 and MSE targets of +T everywhere; one label broadcast over
    every row; -1 indexed the last class; 1.7 was read as 1. Each is refused."""
    from diodenet.training.losses import make_loss

    y = np.zeros((4, 3))
    for labels, problem in (([[0], [1], [2], [0]], "1-D"), ([1.7, 0, 0, 0], "whole class"),
                            ([-1, 0, 1, 2], "lie in 0..2"), ([0, 1, 2, 3], "lie in 0..2")):
        with pytest.raises(ValueError, match=problem):
            make_loss(kind, np.array(labels), 0.5, 3)
    loss = make_loss(kind, np.array([1]), 0.5, 3)
    with pytest.raises(ValueError, match=r"outputs of shape \(1, 3\)"):
        loss.value_and_gradient(y)
    with pytest.raises(ValueError, match=r"outputs of shape \(1, 3\)"):
        loss(torch.zeros(4, 3))
    # float labels that are whole numbers (as a CSV column may give) are class numbers
    a = make_loss(kind, np.array([0.0, 2.0, 1.0, 0.0]), 0.5, 3).value_and_gradient(y)
    b = make_loss(kind, np.array([0, 2, 1, 0]), 0.5, 3).value_and_gradient(y)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    if kind == "ce":  # all-zero outputs: ln 3 whatever the labels
        assert b[0] == pytest.approx(np.log(3), rel=1e-15)
