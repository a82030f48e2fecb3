"""``python -m diodenet``: the same as the ``diodenet`` command."""

from .cli.main import main

if __name__ == "__main__":
    main()
