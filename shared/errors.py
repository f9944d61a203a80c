"""Domain errors, raised by services and turned into problem+json by the API's one handler."""

from __future__ import annotations


class DomainError(Exception):
    """A request the rules refuse. `field` names the input at fault, when there is one."""

    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class Unauthenticated(DomainError):
    title = "Authentication required"


class Forbidden(DomainError):
    title = "Forbidden"


class NotFound(DomainError):
    title = "Not found"


class Conflict(DomainError):
    title = "Conflict"


class InvalidReference(DomainError):
    """An id in the request names nothing that exists (or nothing usable)."""

    title = "Unknown reference"


class InvalidInput(DomainError):
    title = "Invalid input"


class TooLarge(DomainError):
    """A file or body over a size limit (413)."""

    title = "Request body too large"


class StaleVersion(DomainError):
    title = "Precondition failed"


class IdempotencyKeyReused(DomainError):
    title = "Idempotency-Key reused"


class Unavailable(DomainError):
    """Something the request depends on is failing for now: try again shortly (503)."""

    title = "Service unavailable"
