"""The CLI's one-line errors (in their own module, so helpers such as ``_io`` can
raise them without importing the command group)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click


class UserError(click.ClickException):
    """A clear one-line error for the user (exit code 2)."""

    exit_code = 2

    def format_message(self) -> str:
        return self.message


@contextlib.contextmanager
def user_errors(source: str | None = None) -> Iterator[None]:
    """Turn the library's input errors into one-line CLI errors; ``source`` (the
    netlist the work is about) leads the line unless the message names it already."""
    try:
        yield
    except click.ClickException:
        raise
    except (ValueError, OSError, RuntimeError) as exc:
        message = str(exc)
        if source and not message.startswith(str(source)):
            message = f"{source}: {message}"
        raise UserError(message) from exc
