"""The ``tierguard`` command line: ``root.py`` is the group (it loads a subcommand's module only when that
subcommand runs), ``options.py`` the options, errors and exit codes every command shares, and one module per
command. Commands are thin shells: read input, call the engine, render, return the exit status."""
