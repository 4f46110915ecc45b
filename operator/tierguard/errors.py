"""Every way tierguard fails, on one screen. The types are defined here and re-exported where they are raised.

::

    ValueError
     ├── PolicyError         policy.py      a TierPolicy that cannot be used; ``field`` is the dotted path.
     │                                      check/audit/parity: exit 2; webhook: the last valid policy stays.
     └── ManifestError       manifests.py   input that cannot be read; names ``file#document``. Exit 2.
    Exception
     ├── Malformed           engine/        a rule cannot evaluate the object; names the field path. Becomes
     │                                      the violation ``policy-invalid`` (always denied), never a crash.
     └── ClusterUnreadable   audit/         audit/parity cannot list the cluster; one line. Exit 2.
    RuntimeError
     └── StartupError        webhook/       ``tierguard run`` cannot start serving (no credentials, no key).
    click.ClickException
     └── Failure             commands/options.py  what the commands above become: ``error: ...``, exit 2.

Not an exception type of its own: any other exception inside a rule is a bug in tierguard. The engine catches
it, denies the object with ``policy-invalid`` saying it is tierguard's internal error (only the exception's
type: its text could quote a value), and records the rule family in ``Decision.internal_errors``, which the
webhook counts in ``tierguard_internal_errors_total``. Nothing here ever carries a secret value.
"""

from __future__ import annotations


class PolicyError(ValueError):
    """A TierPolicy that cannot be used; ``field`` is the dotted path of the offending field."""

    def __init__(self, field_path: str, problem: str) -> None:
        super().__init__(f"{field_path}: {problem}" if field_path else problem)
        self.field = field_path
        self.problem = problem


class ManifestError(ValueError):
    """Input that cannot be read as Kubernetes objects; ``source`` is ``file#document``."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class Malformed(Exception):
    """Raised by rules when the object cannot be evaluated; the engine turns it into ``policy-invalid``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class ClusterUnreadable(Exception):
    """The cluster cannot be listed (audit, parity); the message says why, in one line."""


class StartupError(RuntimeError):
    """``tierguard run`` cannot start serving; the message says what to fix."""
