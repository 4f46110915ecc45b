"""Rule families. Each module has the same names: ``RULES`` (ids it reports), ``KINDS`` (object kinds it
judges) and ``check(subject)`` yielding Findings. The engine's table lists the modules; there is no discovery."""
