"""Why a scheduler address did not take a submission, in words a user can act on.

gRPC reports every failure to reach a server as ``UNAVAILABLE`` with a long
message; this module turns it into ``connection refused``, ``not a gRPC
server``, ``this is a node monitor, not a scheduler`` or the TLS problem,
says which of them no retry can fix, and keeps the last reason per address
for the client's "no scheduler answered" error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import grpc

#: Substrings of gRPC's messages that name a certificate problem: ours was
#: refused or missing (mutual TLS), or the server's does not verify.
_CERTIFICATE_MARKERS = (
    "CERTIFICATE_VERIFY_FAILED",
    "certificate verify failed",
    "CERTIFICATE_REQUIRED",
    "BAD_CERTIFICATE",
    "UNKNOWN_CA",
    "CERTIFICATE_UNKNOWN",
    "UNSUPPORTED_CERTIFICATE",
    "Handshake failed",
    "handshake failed",
    "SSL_ERROR_SSL",
)

#: The health-service name a node monitor reports.
NODE_MONITOR_SERVICE = "passer.v1.NodeMonitor"
_HEALTH_CHECK = "/grpc.health.v1.Health/Check"


@dataclass(frozen=True)
class Unreached:
    """Why one address failed, whether retrying it cannot help, and whether
    nothing serves there (so it counts toward ``connect_timeout``; a
    listener that stays silent may be a frozen scheduler and is waited for)."""

    reason: str
    permanent: bool = False
    absent: bool = True


#: What gRPC says when the server ends the TLS session right after the
#: handshake: with TLS 1.3 that is how a server demanding a client
#: certificate refuses a client without one (the alert itself only reaches
#: gRPC's log, as ``TLSV1_ALERT_CERTIFICATE_REQUIRED``).
_ALERT_AFTER_HANDSHAKE = ("TSI_DATA_CORRUPTED", "Unwrap failed")


def certificate_problem(details: str) -> Optional[str]:
    """The TLS reason in ``details`` when a handshake failed on a certificate."""
    if any(marker in details for marker in _ALERT_AFTER_HANDSHAKE):
        return (
            "the server refused the TLS session: it demands a client certificate "
            f"(mutual TLS) that was not given or not accepted ({details})"
        )
    if any(marker in details for marker in _CERTIFICATE_MARKERS):
        return details
    return None


def not_grpc(details: str) -> bool:
    """Whether ``details`` say the peer answered HTTP but not gRPC: an
    HTTP/1 server, an HTTP error page, a 200 without ``grpc-status``, or a
    body of the wrong content type."""
    lowered = details.lower()
    return any(marker in lowered for marker in _NOT_GRPC_MARKERS)


_NOT_GRPC_MARKERS = (
    "http1.x server",
    "grpc-status header missing",
    "received http2 header with status",
    "content-type",
    "invalid compression flag",
)


def transport_reason(code: Optional[grpc.StatusCode], details: str) -> Unreached:
    """A short reason for a failed connection or call."""
    lowered = details.lower()
    if "connection refused" in lowered:
        return Unreached("connection refused")
    if not_grpc(details):
        return Unreached(f"not a gRPC server ({details})", permanent=True)
    if "dns resolution failed" in lowered or "name resolution" in lowered:
        return Unreached(f"cannot resolve the host ({details})")
    if "no route to host" in lowered or "network is unreachable" in lowered:
        return Unreached(f"unreachable ({details})")
    name = code.name if code is not None else "UNKNOWN"
    return Unreached(f"{name}: {details}", absent=False)


def _health_request(service: str) -> bytes:
    """``HealthCheckRequest{service}`` encoded by hand (field 1, a string)."""
    name = service.encode()
    return bytes([0x0A, len(name)]) + name


def is_node_monitor(channel: grpc.Channel, metadata: Sequence = (), timeout: float = 2.0) -> bool:
    """Whether the server behind ``channel`` reports the node monitor service."""
    check = channel.unary_unary(_HEALTH_CHECK)  # raw bytes in and out
    try:
        check(_health_request(NODE_MONITOR_SERVICE), metadata=metadata, timeout=timeout)
    except grpc.RpcError:
        return False  # NOT_FOUND: not a node monitor; anything else: cannot tell
    return True


def wrong_server(error: grpc.RpcError, channel: grpc.Channel) -> Optional[Unreached]:
    """What answered instead of a scheduler, if the call found some other server."""
    code = error.code()
    details = error.details() or ""
    if not_grpc(details):
        return Unreached(f"not a gRPC server ({details})", permanent=True)
    if code != grpc.StatusCode.UNIMPLEMENTED:
        return None
    if is_node_monitor(channel):
        return Unreached("this is a node monitor, not a scheduler", permanent=True)
    return Unreached(f"no passer scheduler here (UNIMPLEMENTED: {details})", permanent=True)


class Attempts:
    """The last reason of each address tried."""

    def __init__(self, addresses: Sequence[str]) -> None:
        self._addresses = list(addresses)
        self._last: Dict[str, Unreached] = {}

    def record(self, address: str, unreached: Unreached) -> None:
        """Remembers why ``address`` failed this time."""
        self._last[address] = unreached

    def all_permanent(self) -> bool:
        """True when every address failed in a way no retry can fix."""
        return all(
            address in self._last and self._last[address].permanent for address in self._addresses
        )

    def describe(self) -> str:
        """``addr: reason; addr: reason`` over the addresses tried."""
        return "; ".join(
            f"{address}: {self._last[address].reason}"
            for address in self._addresses
            if address in self._last
        )
