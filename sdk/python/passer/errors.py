"""The exceptions the SDK raises, and the mapping from gRPC status codes.

Every error the client raises is a :class:`PasserError`; the subclass says
what to do about it. Executors raise :class:`TaskFailed` to fail a task with
an exact message (and optional output) instead of ``"Type: message"``.
"""

from __future__ import annotations

from typing import Optional

import grpc


class PasserError(Exception):
    """Base class of every error the passer SDK raises."""

    def __init__(self, message: str, code: Optional[grpc.StatusCode] = None) -> None:
        super().__init__(message)
        #: The server's message (or the SDK's, when no server answered).
        self.message = message
        #: The gRPC status code behind the error, if any.
        self.code = code


class InvalidArgument(PasserError):
    """The job was malformed (INVALID_ARGUMENT); the message names the field."""


class FailedPrecondition(PasserError):
    """The job cannot run as given (FAILED_PRECONDITION), e.g. no node offers its executor."""


class AlreadyExists(FailedPrecondition):
    """Another job already runs under this job id (ALREADY_EXISTS); pick another id."""


class Unauthenticated(PasserError):
    """The token was missing or wrong (UNAUTHENTICATED or PERMISSION_DENIED)."""


class NotFound(FailedPrecondition):
    """No scheduler runs the job or keeps its results (``NOT_FOUND``)."""


class Unavailable(PasserError):
    """No scheduler could be reached or kept, after every retry.

    When no scheduler answered at all, the message names each address tried
    and why (``connection refused``, ``this is a node monitor, not a
    scheduler``, ``not a gRPC server``).
    """


class TlsError(Unavailable):
    """The TLS handshake failed on a certificate (the server's does not verify
    against the CA given, or mutual TLS wants a client certificate that was
    not given or not accepted); the message names the address and the reason.
    Never retried."""


class Overloaded(PasserError):
    """Admission kept refusing the job (RESOURCE_EXHAUSTED) past the retry limit."""


class JobTimeout(PasserError):
    """The job did not finish within the timeout the caller gave."""


class TaskFailed(Exception):
    """Raised by an executor function to fail its task with this exact message.

    ``output`` is still delivered to the client, e.g. a partial log.
    """

    def __init__(self, message: str, output: bytes = b"") -> None:
        super().__init__(message)
        self.message = message
        self.output = output


_FATAL_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: Unauthenticated,
    grpc.StatusCode.UNIMPLEMENTED: FailedPrecondition,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
}


def fatal_error(code: grpc.StatusCode, message: str) -> Optional[PasserError]:
    """The error to raise for a status that retrying cannot fix, else ``None``."""
    error_class = _FATAL_CODES.get(code)
    if error_class is None:
        return None
    return error_class(message or code.name.lower(), code)
