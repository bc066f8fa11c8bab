"""Every error Vallum raises on purpose.

Each error carries a stable machine ``code``, the CLI exit status and the HTTP
status the interfaces map it to, and a ``detail`` a person can act on (plus an
optional ``hint``). Interfaces translate these errors and do nothing else; see
docs/errors.md, which a test keeps in step with this module.

    VallumError                    internal           -> exit 3, HTTP 500
    ├── UsageError                 bad flags, files   -> exit 2, HTTP 400
    │   ├── ConfigError            bad settings       -> exit 2, HTTP 500
    │   ├── NotFoundError          no such thing      -> exit 2, HTTP 404
    │   └── NotInitializedError    run `vallum init`  -> exit 2, HTTP 503
    ├── AuthError                  credentials        -> exit 2, HTTP 401
    ├── PolicyViolation            a control said no  -> exit 1, HTTP 403
    ├── IntegrityError             tampering found    -> exit 1, HTTP 409
    │   └── KeyDestroyedError      data was shredded  -> exit 1, HTTP 410
    └── UnavailableError           dependency down    -> exit 3, HTTP 503
        └── QueueFullError         audit queue full   -> exit 3, HTTP 503

Messages never contain secrets, key material or raw PHI.
"""

from __future__ import annotations

import enum
from typing import ClassVar


class ExitStatus(enum.IntEnum):
    """Process exit codes of the ``vallum`` CLI."""

    OK = 0
    VIOLATION = 1
    USAGE = 2
    INTERNAL = 3


class VallumError(Exception):
    """Root of every error Vallum raises on purpose."""

    code: ClassVar[str] = "internal"
    exit_status: ClassVar[ExitStatus] = ExitStatus.INTERNAL
    http_status: ClassVar[int] = 500

    def __init__(self, detail: str, *, hint: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint

    def one_line(self) -> str:
        """The message for a person: detail, then the hint if there is one."""
        return f"{self.detail} ({self.hint})" if self.hint else self.detail


class UsageError(VallumError):
    """The caller asked for something malformed: flags, arguments, input files."""

    code = "usage"
    exit_status = ExitStatus.USAGE
    http_status = 400


class ConfigError(UsageError):
    """A setting is invalid, or the installation is misconfigured."""

    code = "config"
    http_status = 500


class NotFoundError(UsageError):
    """The named thing (event, control, key) does not exist."""

    code = "not_found"
    http_status = 404


class NotInitializedError(UsageError):
    """The data directory or database has not been initialised or migrated."""

    code = "not_initialized"
    http_status = 503


class AuthError(VallumError):
    """Missing, wrong or expired credentials."""

    code = "auth"
    exit_status = ExitStatus.USAGE
    http_status = 401


class PolicyViolation(VallumError):
    """A control refused the action."""

    code = "policy.violation"
    exit_status = ExitStatus.VIOLATION
    http_status = 403


class IntegrityError(VallumError):
    """Stored data does not match what was recorded: tampering or corruption."""

    code = "integrity"
    exit_status = ExitStatus.VIOLATION
    http_status = 409


class KeyDestroyedError(IntegrityError):
    """The data key was destroyed (crypto-shredded); its data is unrecoverable."""

    code = "integrity.key_destroyed"
    http_status = 410


class UnavailableError(VallumError):
    """A dependency (database, key provider, Redis) did not answer."""

    code = "unavailable"
    exit_status = ExitStatus.INTERNAL
    http_status = 503


class QueueFullError(UnavailableError):
    """The audit queue is full; the action is refused rather than left unrecorded."""

    code = "unavailable.queue_full"


class GuardBlockedError(PolicyViolation):
    """A gateway guard refused the prompt or the answer (the reason names the guard)."""

    code = "policy.guard_blocked"


class RateLimitedError(VallumError):
    """A rate limit or quota was reached; retry after ``retry_after`` seconds."""

    code = "rate_limited"
    exit_status = ExitStatus.VIOLATION
    http_status = 429

    def __init__(self, detail: str, *, retry_after: float = 1.0, hint: str | None = None) -> None:
        super().__init__(detail, hint=hint)
        self.retry_after = retry_after


class UpstreamError(UnavailableError):
    """The model vendor behind the gateway failed or refused; its answer is not passed on."""

    code = "unavailable.upstream"
    http_status = 502


class UpstreamTimeoutError(UpstreamError):
    """The model vendor did not answer within the gateway's timeout."""

    code = "unavailable.upstream_timeout"
    http_status = 504


def all_error_classes() -> list[type[VallumError]]:
    """Every error class, root first (used by docs tests and the API)."""
    found: list[type[VallumError]] = [VallumError]
    i = 0
    while i < len(found):
        found.extend(found[i].__subclasses__())
        i += 1
    return found
