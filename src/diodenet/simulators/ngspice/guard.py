"""What ngspice may be sent: one allowed command at a time, and netlists that are data.

ngspice reads a command line as a shell of its own (redirection, ``shell``,
``source``, history) and a netlist's ``.control`` block, ``.include``,
``.lib`` and ``.exec``/``.shell``/``.system`` cards as instructions to read
files or run commands. The binding (``binding.Ngspice``) passes every
command through ``check_command`` and every netlist through
``check_netlist_lines`` before ngspice sees it; both raise ``ValueError``
naming what they refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: The commands the binding sends: analyses, ``alter``, and housekeeping.
ALLOWED_COMMANDS = frozenset({
    "op", "dc", "ac", "tf", "sens", "alter", "altermod", "destroy", "remcirc", "listing",
    "set", "unset", "echo", "reset", "quit", "show", "showmod", "print", "display",
    "version", "rusage",
})
#: Characters ngspice's command line reads as redirection, substitution, quoting,
#: history or a command separator.
_COMMAND_SYNTAX = re.compile(r"[<>|&;`$\\!\"'~\x00-\x1f\x7f]")
#: Cards that make ngspice read files or run commands. ngspice matches dot cards
#: by prefix ('.controlx' opens a control block, '.incx' reads a file), and runs
#: a comment line that starts with '*#' as a command.
_COMMAND_PREFIXES = (".control", ".endc", ".exec", ".inc", ".lib", ".shell", ".system",
                     ".osdi", ".pre_osdi", "*#")
_COMMAND_WORDS = frozenset({"shell", "system"})


def _is_command(word: str) -> bool:
    """Whether a line's first word (lower case) makes ngspice read a file or run a command."""
    return word in _COMMAND_WORDS or word.startswith(_COMMAND_PREFIXES)



def check_command(cmd: str) -> None:
    """ValueError unless ``cmd`` is one allowed command word with plain arguments
    (``ALLOWED_COMMANDS``; none of ``< > | & ; ` $ \\ ! " ' ~`` or control characters)."""
    word = cmd.split(None, 1)[0].lower() if cmd.strip() else ""
    if word not in ALLOWED_COMMANDS or _COMMAND_SYNTAX.search(cmd):
        raise ValueError(f"refused to send ngspice the command {cmd[:80]!r}")


#: a control character other than tab (one regex scan: a per-character loop
#: cost seconds on a netlist of 200k resistors)
_CONTROL_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: every byte but those of _CONTROL_CHAR other than newline: deleting them
#: from the UTF-8 of the joined lines leaves the control characters (UTF-8
#: encodes every other character in bytes of 0x80 and above)
_NOT_CONTROL = bytes(sorted({*range(256)} - {*range(9), *range(11, 32), 127}))
#: a line's first word if, lower-cased, it could be a command (``_is_command``):
#: each starts with ".", "*" or "s", so the word starts with ".", "*", "s", "S"
#: or a character outside ASCII (whose lower case this does not guess); led by
#: the newline before the line, so the scan jumps from newline to newline
_COMMAND_CANDIDATE = re.compile(r"\n[^\S\n]*([.*sS\x80-\U0010ffff]\S*)")


def check_netlist_lines(lines: Sequence[str]) -> None:
    """ValueError unless ``lines`` are a netlist (not a script): the first line is
    not ``*ng_script``, no line holds a control character, and no card reads a
    file or runs a command.

    The lines are checked joined (a loop over 200k lines took 0.15 s of every
    netlist load, the joined text's scans about 0.02 s); a netlist they find
    fault with is checked line by line for the message, which names the
    first offending line."""
    if not lines:
        raise ValueError("an empty netlist")
    text = "\n".join(lines)
    fault = text.count("\n") != len(lines) - 1 \
        or bool(text.encode("utf-8", "surrogatepass").translate(None, _NOT_CONTROL)) \
        or lines[0].strip().lower().startswith("*ng_") \
        or any(_is_command(m.group(1).lower())
               for m in _COMMAND_CANDIDATE.finditer(text, len(lines[0])))
    if fault:
        _check_line_by_line(lines)  # raises, naming the first line at fault
        raise ValueError("refused the netlist")  # (the two checks agree: not reached)


def _check_line_by_line(lines: Sequence[str]) -> None:
    """``check_netlist_lines`` one line at a time: raises for the first line at fault."""
    for k, line in enumerate(lines):
        if _CONTROL_CHAR.search(line):
            raise ValueError(f"netlist line {k + 1} holds a control character")
        low = line.strip().lower()
        if k == 0:
            if low.startswith("*ng_"):
                raise ValueError("refused a netlist whose first line starts a script")
            continue
        words = low.split(None, 1)
        if words and _is_command(words[0]):
            raise ValueError(f"refused the netlist card {line[:40]!r}")
