"""Small helpers that several packages share (no circuit knowledge here).

* :func:`limit_threads`: one torch/BLAS thread, what the CLI and benchmarks use;
* :class:`UnionFind`: connectivity of named nodes (topology checks, loop finding);
* :func:`read_csv_table`: a CSV file with a header row, with errors that name
  the file, line and column;
* ``utils.indexing``: index sets fixed by a topology read as views where they
  are regular (``as_slice``, ``columns``).
"""

from .tables import CsvTable, read_csv_table
from .threads import limit_threads
from .unionfind import UnionFind

__all__ = ["CsvTable", "UnionFind", "limit_threads", "read_csv_table"]
