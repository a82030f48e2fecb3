"""``--include-dir DIR``: the include files a netlist may read from one folder.

A netlist is data, so an include is read only when the user allowed it: a file
passed by name (``--include``), or a file inside a folder passed with
``--include-dir``. Inside that folder, a name must be relative (no absolute or
Windows path), is resolved against the netlist's folder, and must still lie
inside the folder once ``..`` and symbolic links are resolved.

``lex_file`` reads a netlist file and the includes it may read, each once,
and lexes them: the reader and ``diodenet compare`` work from that one reading.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..._files import read_file_bytes
from .lexer import Deck, Resolver, is_windows_path, lex

MAX_FILE_BYTES = 50_000_000


def read_text(path: Path) -> str:
    """A netlist file's text: UTF-8, else Latin-1 (LTspice and QSPICE write ``µ``
    as the single byte 0xB5)."""
    # a regular file only (a FIFO would block, /dev/zero never end), size-bounded;
    # the OSError names the file it is about (the netlist or an include)
    data = read_file_bytes(path, max_bytes=MAX_FILE_BYTES)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def folder_resolver(
    include_dir: str | os.PathLike[str], base: str | os.PathLike[str]
) -> Resolver:
    """A ``Resolver`` allowing the files inside ``include_dir``; relative names
    are taken from ``base`` (the netlist's folder)."""
    root = Path(os.path.realpath(include_dir))
    if not root.is_dir():
        raise ValueError(f"--include-dir {include_dir}: not a folder")
    base_path = Path(base)

    def resolve(name: str) -> str | None:
        if os.path.isabs(name) or is_windows_path(name) or name.startswith("~"):
            raise ValueError("an absolute path; --include-dir allows relative names only "
                             "(pass the file with --include)")
        target = Path(os.path.realpath(base_path / name))
        if target != root and root not in target.parents:
            raise ValueError(f"it resolves to {target}, outside the include folder {root}")
        if target.is_dir():
            raise ValueError(f"{target} is a folder, not a file")
        if not target.is_file():
            raise ValueError(f"no such file in the include folder {root}")
        return read_text(target)

    return resolve


def lex_file(
    path: str | os.PathLike[str],
    includes: Iterable[str | os.PathLike[str]] = (),
    include_dir: str | os.PathLike[str] | None = None,
) -> Deck:
    """The netlist file at ``path`` lexed, each file read once (see
    ``read_netlist`` for ``includes`` and ``include_dir``): what is read is what
    is checked, and what ``diodenet compare`` sends."""
    path = Path(path)
    text = read_text(path)
    base = path.resolve().parent
    table: dict[str, str] = {}
    for inc in includes:
        p = Path(inc)
        body = read_text(p)
        resolved = p.resolve()
        table[str(p)] = body
        table[str(resolved)] = body
        table[os.path.normpath(os.path.relpath(resolved, base))] = body
    resolver = folder_resolver(include_dir, base) if include_dir is not None else None
    return lex(text, table, resolver)
