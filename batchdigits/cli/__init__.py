"""The command line, one module per command; see :mod:`batchdigits.cli.app`.

Importing this package loads nothing: the console script (:mod:`.entry`)
installs its signal handlers before typer, rich or numpy are imported.
"""
