"""Addresses, channels and auth metadata shared by the executor and the client.

An address may be written ``host:port``, ``http://host:port`` (plaintext, as
the node monitor passes ``PASSER_ATTACH_ADDR``), ``https://host:port`` (TLS
with the system's roots, or with a :class:`TlsConfig`) or ``unix:/path`` /
``unix:///path`` (a local socket, always plaintext). A :class:`TlsConfig`
turns TLS on for ``host:port`` too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import grpc

Metadata = Tuple[Tuple[str, str], ...]

#: The cluster's message-size limit (``passer_proto::MAX_MESSAGE_BYTES_DEFAULT``
#: in Rust): 64 MiB of job payload plus 32 MiB for ids, specs and framing.
MAX_MESSAGE_BYTES = 96 * 1024 * 1024

#: Channel options used unless the caller passes its own: large messages,
#: and keepalive pings (every second, dead after 2 s without an answer) so
#: a frozen or vanished peer is noticed within about 3 s even on a quiet
#: result stream, and the job fails over (as the Rust SDK does).
DEFAULT_CHANNEL_OPTIONS: Tuple[Tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 1_000),
    ("grpc.keepalive_timeout_ms", 2_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # Recent gRPC core waits this long for any ping's ack (keepalive ones
    # included) whatever keepalive_timeout_ms says; the default is 60 s.
    ("grpc.http2.ping_timeout_ms", 2_000),
    # Reconnect quickly: the SDK does its own backoff above the channel.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)


@dataclass(frozen=True)
class Target:
    """A parsed address: what to hand to gRPC, and whether to use TLS."""

    target: str
    secure: bool

    def __str__(self) -> str:
        return self.target


def parse_address(address: str) -> Target:
    """Parses ``host:port``, ``http(s)://host:port`` or ``unix:`` addresses."""
    text = address.strip()
    if not text:
        raise ValueError("empty address")
    lowered = text.lower()
    if lowered.startswith("unix:"):
        return Target(text, secure=False)
    secure = False
    if lowered.startswith("https://"):
        secure, text = True, text[len("https://") :]
    elif lowered.startswith("http://"):
        text = text[len("http://") :]
    elif "://" in text:
        raise ValueError(f"unsupported address scheme in {address!r}")
    text = text.rstrip("/")
    if not text or "/" in text:
        raise ValueError(f"address must be host:port, got {address!r}")
    return Target(text, secure=secure)


@dataclass(frozen=True)
class TlsConfig:
    """PEM files for TLS, the same as the servers' and the CLI's flags.

    ``ca`` verifies the server (``None``: the system's roots); ``cert`` and
    ``key`` are presented for mutual TLS; ``domain`` overrides the name the
    server certificate is checked against.
    """

    ca: Optional[str] = None
    cert: Optional[str] = None
    key: Optional[str] = None
    domain: Optional[str] = None

    @staticmethod
    def from_env() -> Optional["TlsConfig"]:
        """``$PASSER_TLS_CA``, ``_CERT``, ``_KEY``, ``_DOMAIN``; ``None`` if none is set."""
        values = {
            name: os.environ.get(f"PASSER_TLS_{name.upper()}") or None
            for name in ("ca", "cert", "key", "domain")
        }
        if not any(values.values()):
            return None
        return TlsConfig(**values)

    def credentials(self) -> grpc.ChannelCredentials:
        """Reads the files into channel credentials."""
        if (self.cert is None) != (self.key is None):
            raise ValueError("TLS cert and key go together")
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca),
            private_key=_read(self.key),
            certificate_chain=_read(self.cert),
        )


def _read(path: Optional[str]) -> Optional[bytes]:
    if path is None:
        return None
    with open(path, "rb") as handle:
        return handle.read()


def open_channel(
    address: str,
    options: Optional[Sequence[Tuple[str, object]]] = None,
    tls: Optional[TlsConfig] = None,
) -> grpc.Channel:
    """Opens a channel to ``address`` (plaintext unless ``https://`` or ``tls``)."""
    parsed = parse_address(address)
    merged: List[Tuple[str, object]] = list(DEFAULT_CHANNEL_OPTIONS)
    if options:
        given = {name for name, _ in options}
        merged = [opt for opt in merged if opt[0] not in given] + list(options)
    if parsed.target.lower().startswith("unix:"):
        # A Unix socket never leaves the host: node monitors serve it in
        # plaintext, so TLS settings do not apply (as in the Rust SDK).
        # grpcio would send the socket path as :authority, which HTTP/2
        # servers such as the node monitor refuse; send localhost.
        if not any(name == "grpc.default_authority" for name, _ in merged):
            merged.append(("grpc.default_authority", "localhost"))
        return grpc.insecure_channel(parsed.target, merged)
    if tls is not None:
        if tls.domain:
            merged.append(("grpc.ssl_target_name_override", tls.domain))
        return grpc.secure_channel(parsed.target, tls.credentials(), merged)
    if parsed.secure:
        return grpc.secure_channel(parsed.target, grpc.ssl_channel_credentials(), merged)
    return grpc.insecure_channel(parsed.target, merged)


def resolve_token(token: Optional[str]) -> Optional[str]:
    """Returns ``token``, else ``$PASSER_TOKEN``, else ``None``."""
    if token:
        return token
    return os.environ.get("PASSER_TOKEN") or None


def auth_metadata(token: Optional[str]) -> Metadata:
    """The ``authorization: Bearer <token>`` metadata, or none without a token."""
    if not token:
        return ()
    return (("authorization", f"Bearer {token}"),)
