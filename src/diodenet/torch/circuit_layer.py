"""``CircuitLayer``: a resistor–diode circuit as a PyTorch layer.

The layer's parameters are the circuit's trainable conductances; its forward
pass is ``hardware.settle`` (the built-in simulator or ngspice) and its
backward pass is one adjoint settle of the linearized circuit (hardware
linearization), so gradients are *measured on the circuit*::

    forward:   y = settle(u; g)                   (outputs, branch voltages v)
    backward:  v̂, ĵ = settle_linearized(drive = ∂L/∂y into the outputs, adjoint)
               ∂L/∂g_k = -Σ_samples v_k v̂_k,     ∂L/∂u = ĵ

``∂L/∂u`` makes the layer compose with layers before it (a digital feature
extractor, say). Conductances stay positive and inside ``[g_min, g_max]`` by
construction: each is a sigmoid in log-conductance of a free parameter ``θ``::

    g = g_min (g_max / g_min)^sigmoid(θ)

so any ``torch.optim`` optimiser can step ``θ`` freely.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..circuits import Circuit
from ..circuits.outputs import OutputSpec
from ..linearization import (
    BuiltinHardware,
    Hardware,
    Measurement,
    NgspiceHardware,
    adjoint_gradient,
    make_hardware,
)
from ..training.architectures import Network


def _on_cpu() -> contextlib.AbstractContextManager[Any]:
    """The hardware's tensors stay on the CPU, where it settles, also inside a
    ``with torch.device(...)`` block (free when none is active)."""
    return contextlib.nullcontext() if torch.get_default_device().type == "cpu" \
        else torch.device("cpu")


class _Settle(torch.autograd.Function):
    """``y = settle(u; g)`` with the hardware-linearization backward."""

    @staticmethod
    def forward(ctx: Any, g: Tensor, u: Tensor, layer: CircuitLayer) -> Tensor:
        g_np = g.detach().cpu().to(torch.float64).numpy().copy()
        with _on_cpu():
            layer._program(g_np)
            m = layer.hardware.settle(u.detach().cpu().to(torch.float64).numpy())
        ctx.layer, ctx.measurement, ctx.g = layer, m, g_np
        layer.last_measurement = m
        return torch.as_tensor(m.outputs, dtype=u.dtype, device=u.device)

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        if torch.is_grad_enabled():  # create_graph=True: a gradient of this gradient
            raise RuntimeError("CircuitLayer's gradient is measured on the circuit and has no "
                               "derivative of its own: second derivatives (create_graph=True) "
                               "are not supported")
        layer: CircuitLayer = ctx.layer
        m: Measurement = ctx.measurement
        # another forward may have re-programmed the circuit since this one
        with _on_cpu():
            layer._program(ctx.g)
            dL_dg, adjoint = adjoint_gradient(
                layer.hardware, m, grad_y.detach().cpu().to(torch.float64).numpy()
            )
        g_grad = u_grad = None
        if ctx.needs_input_grad[0]:
            g_grad = torch.as_tensor(dL_dg, dtype=layer.theta.dtype, device=layer.theta.device)
        if ctx.needs_input_grad[1]:
            u_grad = torch.as_tensor(adjoint.input_responses, dtype=grad_y.dtype,
                                     device=grad_y.device)
        return g_grad, u_grad, None


@torch.compiler.disable
def _settle(g: Tensor, u: Tensor, layer: CircuitLayer) -> Tensor:
    # the data leave torch for the circuit here: torch.compile runs this eagerly
    if not bool(torch.isfinite(u).all()):
        raise ValueError("input contains NaN or inf")
    return _Settle.apply(g, u, layer)


class CircuitLayer(nn.Module):
    """A circuit whose trainable resistors are this module's parameters.

    Parameters
    ----------
    hardware:
        a ``Hardware`` (``BuiltinHardware``/``NgspiceHardware``), a ``Circuit``
        (then ``inputs``/``outputs`` name its sources and output nodes and
        ``backend`` picks the hardware), or a ``training.Network`` (a
        ``build_network`` classifier; the layer then takes *features* and
        applies the network's differential encoding ``u = [s x₀, -s x₀, …]``
        itself, differentiably).
    inputs, outputs:
        for a ``Circuit``: source names (the columns of the input) and output
        nodes or ``(pos, neg)`` pairs.
    backend:
        ``"builtin"`` or ``"ngspice"`` when ``hardware`` is a circuit or network.
    g_min, g_max:
        the conductance range (S); the circuit's conductances must lie in it.
    dtype, device:
        of ``θ``, as torch's factory arguments (default: torch's default dtype,
        the CPU). Outputs take the input's dtype and device.

    Input: ``(batch, m)`` source values in volts (or amperes for current
    sources), or ``(m,)``; for a network, ``(batch, n_features)`` features.
    Output: ``(batch, p)`` volts. The settles run on the CPU in float64
    whatever the tensors' device; results are returned on the input's device.
    """

    def __init__(
        self,
        hardware: Hardware | Circuit | Network,
        inputs: Sequence[str] | None = None,
        outputs: Sequence[OutputSpec] | None = None,
        *,
        backend: str = "builtin",
        g_min: float = 1e-6,
        g_max: float = 1e-3,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        workers: int = 1,
    ) -> None:
        super().__init__()
        self.network: Network | None = None
        if isinstance(hardware, Network):
            self.network = hardware
            with _on_cpu():
                hardware = make_hardware(backend, hardware.circuit, hardware.inputs,
                                         hardware.outputs, workers=workers)
        elif isinstance(hardware, Circuit):
            if inputs is None or outputs is None:
                raise ValueError("a Circuit needs inputs= (source names) and outputs= (nodes)")
            with _on_cpu():
                hardware = make_hardware(backend, hardware, inputs, outputs, workers=workers)
        elif not isinstance(hardware, Hardware):
            raise ValueError(
                f"expected a Hardware, Circuit or Network, got {type(hardware).__name__}"
            )
        if not (0 < g_min < g_max and math.isfinite(g_max)):
            raise ValueError(f"need 0 < g_min < g_max (S), got {g_min}, {g_max}")
        self.hardware: Hardware = hardware
        self.g_min, self.g_max = float(g_min), float(g_max)
        g = hardware.conductances()
        if len(g) == 0:
            raise ValueError("the circuit has no trainable resistors")
        outside = np.flatnonzero((g < g_min * (1 - 1e-12)) | (g > g_max * (1 + 1e-12)))
        if outside.size:
            k = int(outside[0])
            raise ValueError(
                f"conductance of {hardware.trainable[k]} is {g[k]:.4g} S, outside "
                f"[g_min, g_max] = [{g_min:g}, {g_max:g}] S"
            )
        self.theta = nn.Parameter(self._to_theta(g, dtype or torch.get_default_dtype())
                                  .to(device))
        self.last_measurement: Measurement | None = None

    # -------------------------------------------------------- parametrisation
    def _to_theta(self, g: np.ndarray, dtype: torch.dtype) -> Tensor:
        span = math.log(self.g_max / self.g_min)
        frac = np.log(np.asarray(g, dtype=np.float64) / self.g_min) / span
        # the range's ends are sigmoid(±inf): keep θ finite, 1e-9 off each end
        frac = np.clip(frac, 1e-9, 1 - 1e-9)
        return torch.as_tensor(np.log(frac) - np.log1p(-frac), dtype=dtype)

    def conductances(self) -> Tensor:
        """``g = g_min (g_max/g_min)^sigmoid(θ)`` (S), differentiable in ``θ``."""
        span = math.log(self.g_max / self.g_min)
        g = self.g_min * torch.exp(span * torch.sigmoid(self.theta))
        # round-off (float32) must not step outside the range at saturation
        return g.clamp(self.g_min, self.g_max)

    def _program(self, g: np.ndarray) -> None:
        # asked of the hardware, not remembered here: another layer (or a direct
        # set_conductances) may have re-programmed a shared one since
        if not np.array_equal(self.hardware.conductances(), g):
            self.hardware.set_conductances(g)

    # ------------------------------------------------------------- forward
    def encode(self, x: Tensor) -> Tensor:
        """Features → source values: the network's ``[s x₀, -s x₀, s x₁, …]``
        (identity for a plain circuit)."""
        if self.network is None:
            return x
        net = self.network
        if x.shape[-1] != net.n_features:
            raise ValueError(f"expected {net.n_features} features, got shape {tuple(x.shape)}")
        return torch.stack((net.scale * x, -net.scale * x), dim=-1).flatten(-2)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.as_tensor(x)
        if not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
        single = x.ndim == 1
        u = self.encode(x.unsqueeze(0) if single else x)
        m = len(self.hardware.inputs)
        if u.ndim != 2 or u.shape[1] != m:
            raise ValueError(f"expected input of shape (batch, {m}), got {tuple(x.shape)}")
        if "meta" in (u.device.type, self.theta.device.type):
            raise RuntimeError("CircuitLayer cannot run on the meta device: the circuit "
                               "settles on real values (move the layer with to_empty() or "
                               "to('cpu') and load its state first)")
        y = _settle(self.conductances(), u, self)
        return y.squeeze(0) if single else y

    # -------------------------------------------------------------- export
    def to_circuit(self) -> Circuit:
        """A copy of the circuit with the layer's current conductances."""
        c = self.hardware.circuit.copy()
        g = self.conductances().detach().cpu().to(torch.float64).numpy()
        c.set_conductances(dict(zip(self.hardware.trainable, g.tolist())))
        return c

    def to_spice(self) -> str:
        """The trained circuit as a SPICE netlist."""
        return self.to_circuit().to_spice()

    def deploy(self, backend: str = "ngspice", *, workers: int = 1) -> CircuitLayer:
        """A new layer running the trained circuit on ``backend`` (same range, encoding)."""
        with _on_cpu():
            hw = make_hardware(backend, self.to_circuit(), self.hardware.inputs,
                               self.hardware.outputs, workers=workers)
        layer = CircuitLayer(hw, g_min=self.g_min, g_max=self.g_max, dtype=self.theta.dtype,
                             device=self.theta.device)
        layer.network = self.network
        with torch.no_grad():
            layer.theta.copy_(self.theta)
        return layer

    def close(self) -> None:
        """Release the hardware (ngspice workers)."""
        self.hardware.close()

    # ------------------------------------------------- copy.deepcopy, pickle
    # The hardware holds factorisations, sparse tensors and (for ngspice) a
    # library: what travels is how to build it again, and the parameters.
    def __getstate__(self) -> dict[str, Any]:
        hw = self.hardware
        if not isinstance(hw, BuiltinHardware | NgspiceHardware):
            raise TypeError(f"a CircuitLayer on {type(hw).__name__} cannot be copied or "
                            "pickled; save its state_dict() instead")
        state = dict(self.__dict__)
        del state["hardware"]
        state["last_measurement"] = None
        state["_hardware_recipe"] = (type(hw), hw.circuit.copy(), list(hw.inputs),
                                     list(hw.outputs), dict(hw.settings))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        kind, circuit, inputs, outputs, settings = state.pop("_hardware_recipe")
        super().__setstate__(state)
        with _on_cpu():
            self.hardware = kind(circuit, inputs, outputs, **settings)

    def extra_repr(self) -> str:
        hw = self.hardware
        return (f"hardware={hw.name}, inputs={len(hw.inputs)}, outputs={len(hw.outputs)}, "
                f"trainable={len(hw.trainable)}, g_range=[{self.g_min:g}, {self.g_max:g}] S")
