"""Unilateral buffers between the stages of a cascade."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..linearization import Hardware
from ..utils.numbers import is_real, is_whole


@dataclass(frozen=True)
class Buffer:
    """A unilateral voltage buffer: input ``input`` of stage ``dst`` is held at
    ``gain`` × output ``output`` of stage ``src`` (an E element). ``dst <=
    src`` makes it a feedback buffer."""

    src: int
    output: int
    dst: int
    input: int
    gain: float

    def __post_init__(self) -> None:
        for name in ("src", "output", "dst", "input"):
            v = getattr(self, name)
            if not is_whole(v) or v < 0:
                raise ValueError(f"Buffer {name} is an index >= 0, got {v!r}")
        g = self.gain
        if not (is_real(g) and math.isfinite(g) and g != 0):
            raise ValueError(f"a buffer's gain is a finite, nonzero number (V/V), got {g!r}")

    @property
    def feedback(self) -> bool:
        return self.dst <= self.src


def buffers_of(stages: Sequence[Hardware], gains: Sequence[float | Sequence[float]] | None,
               buffers: Sequence[Buffer] | None) -> list[Buffer]:
    """The buffer list of a cascade: ``buffers`` as given, or one per
    connection of consecutive stages from ``gains``; checked (stages, outputs
    and inputs exist; every input after stage 0 is driven exactly once)."""
    if buffers is not None:
        if gains is not None:
            raise ValueError("give gains or buffers, not both")
        out = list(buffers)
    else:
        gains = [1.0] * (len(stages) - 1) if gains is None else list(gains)
        if len(gains) != len(stages) - 1:
            raise ValueError(f"expected {len(stages) - 1} buffer gains, got {len(gains)}")
        out = []
        for s in range(len(stages) - 1):
            n_out, n_in = len(stages[s].outputs), len(stages[s + 1].inputs)
            if n_out != n_in:
                raise ValueError(
                    f"stage {s} has {n_out} outputs but stage {s + 1} has {n_in} inputs"
                )
            g = np.broadcast_to(np.asarray(gains[s], dtype=float), (n_in,))
            out += [Buffer(s, j, s + 1, j, float(g[j])) for j in range(n_in)]
    seen: set[tuple[int, int]] = set()
    for b in out:
        for what, idx, n in (("source", b.src, len(stages)), ("destination", b.dst, len(stages))):
            if not 0 <= idx < n:
                raise ValueError(f"buffer {b}: {what} stage {idx} does not exist")
        if not 0 <= b.output < len(stages[b.src].outputs):
            raise ValueError(f"buffer {b}: stage {b.src} has no output {b.output}")
        if not 0 <= b.input < len(stages[b.dst].inputs):
            raise ValueError(f"buffer {b}: stage {b.dst} has no input {b.input}")
        if (b.dst, b.input) in seen:
            raise ValueError(f"stage {b.dst} input {b.input} is driven by two buffers")
        seen.add((b.dst, b.input))
    for s in range(1, len(stages)):
        for i, name in enumerate(stages[s].inputs):
            if (s, i) not in seen:
                raise ValueError(f"stage {s} input {name!r} is driven by no buffer")
    return out
