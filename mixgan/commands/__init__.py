"""The ``mixgan`` command line: one parser builder (``main.py``), shared option helpers
(``options.py``) and one module per group of subcommands."""
