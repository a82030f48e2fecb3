"""Thread limits for small, latency-bound numerical work."""

from __future__ import annotations


def limit_threads(n: int = 1) -> None:
    """Run torch and the BLAS/OpenMP pools with ``n`` threads (default 1).

    diodenet's circuits are small: a solve is many tiny dense operations, so
    extra threads mostly wait on each other. On a shared 2-core machine two
    threads made the small solves about 10× slower than one. The command line
    and the benchmarks call this once at start-up; library code never does.
    """
    import torch

    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it torch's limit stands
        return
    threadpool_limits(n)
