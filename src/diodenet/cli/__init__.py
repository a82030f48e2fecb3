"""The ``diodenet`` command line (``diodenet --help``; also ``python -m diodenet``).

One module per command, each registering itself on the click group
``diodenet.cli.main.cli``. Input errors print one ``error: ...`` line naming
the file and line, with exit code 2, never a traceback.
"""
