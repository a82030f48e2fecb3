"""What ngspice's failures become: :class:`NgspiceError` for rejected input,
:class:`NgspiceConvergenceError` for an analysis that did not converge, each
carrying ngspice's own message lines, told apart by the fragments ngspice
prints (``raise_on_errors``)."""

from __future__ import annotations

from collections.abc import Sequence


class NgspiceError(RuntimeError):
    """ngspice rejected a command or a netlist.

    ``lines`` holds ngspice's own message lines; ``sample`` is the index (in the
    caller's batch) of the input vector that failed, when known.
    """

    def __init__(
        self, message: str, lines: Sequence[str] = (), sample: int | None = None
    ) -> None:
        self.base_message = message
        self.lines = [ln.removeprefix("stderr ").removeprefix("stdout ") for ln in lines]
        self.sample = sample
        text = message
        if sample is not None:
            text = f"sample {sample}: {text}"
        if self.lines:
            text = f"{text}: " + " | ".join(self.lines[-6:])
        super().__init__(text)

    def with_sample(self, sample: int) -> NgspiceError:
        """The same error, naming the failing sample of the caller's batch."""
        return type(self)(self.base_message, self.lines, sample)

    def __reduce__(self):  # keep lines and sample across process boundaries
        return (type(self), (self.base_message, self.lines, self.sample))


class NgspiceConvergenceError(NgspiceError):
    """An analysis did not converge (ngspice gave up on the operating point)."""


class NgspiceLibraryNotFound(OSError):
    """libngspice could not be found or loaded."""


# ngspice's message fragments that mean "the analysis failed to converge".
_CONVERGENCE_MARKERS = (
    "gmin stepping failed",
    "source stepping failed",
    "iteration limit reached",
    "singular matrix",
    "timestep too small",
    "simulation(s) aborted",
    "no convergence",
    "too many iterations without convergence",
)
# Fragments that mean ngspice rejected something (checked on stderr lines).
_ERROR_MARKERS = (
    "error",
    "unknown",
    "no such",
    "not found",
    "can't find",
    "cannot",
    "could not",
    "undefined",
    "fatal",
)


def is_convergence_line(line: str) -> bool:
    """Whether ngspice's ``line`` says an analysis failed to converge."""
    low = line.lower()
    return any(m in low for m in _CONVERGENCE_MARKERS)


def is_error_line(line: str) -> bool:
    """Whether ngspice's ``line`` (on stderr, not a bare warning) rejects something."""
    low = line.lower()
    if not low.startswith("stderr"):
        return False
    if "warning" in low and "error" not in low:
        return False
    return any(m in low for m in _ERROR_MARKERS)


def raise_on_errors(cmd: str, lines: Sequence[str]) -> None:
    """Raise for the first kind of failure ``cmd``'s output ``lines`` report."""
    conv = [ln for ln in lines if is_convergence_line(ln)]
    if conv:
        raise NgspiceConvergenceError(f"ngspice {cmd!r} did not converge", conv)
    bad = [ln for ln in lines if is_error_line(ln)]
    if bad:
        raise NgspiceError(f"ngspice {cmd!r} failed", bad)
