"""Unit tests of the address parser, backoff and output conversion."""

from __future__ import annotations

import random

import pytest

from passer._backoff import Backoff
from passer._channel import TlsConfig, auth_metadata, open_channel, parse_address
from passer._session import describe_exception, to_output


@pytest.mark.parametrize(
    "address, target, secure",
    [
        ("127.0.0.1:20501", "127.0.0.1:20501", False),
        ("http://127.0.0.1:20501", "127.0.0.1:20501", False),
        ("http://127.0.0.1:20501/", "127.0.0.1:20501", False),
        ("HTTPS://sched.example:443", "sched.example:443", True),
        ("unix:/run/passer.sock", "unix:/run/passer.sock", False),
        ("  [::1]:20503 ", "[::1]:20503", False),
    ],
)
def test_parse_address(address: str, target: str, secure: bool) -> None:
    parsed = parse_address(address)
    assert (parsed.target, parsed.secure) == (target, secure)


@pytest.mark.parametrize("address", ["", "ftp://x:1", "http://x:1/path"])
def test_parse_address_rejects(address: str) -> None:
    with pytest.raises(ValueError):
        parse_address(address)


def test_unix_socket_channels_ignore_tls() -> None:
    # TLS would read the (missing) CA file; a unix socket is plaintext.
    channel = open_channel("unix:/run/passer/attach.sock", tls=TlsConfig(ca="/nonexistent/ca.pem"))
    channel.close()


def test_backoff_is_capped_full_jitter() -> None:
    backoff = Backoff(base=0.1, cap=1.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(50)]
    assert all(0.0 <= d <= 1.0 for d in delays)
    assert delays[0] <= 0.1 and max(delays) > 0.5
    assert backoff.next_delay(floor=2.0) == 2.0
    backoff.reset()
    assert backoff.next_delay() <= 0.1


def test_output_conversion_and_error_text() -> None:
    assert to_output(None) == b""
    assert to_output("é") == "é".encode()
    assert to_output(bytearray(b"x")) == b"x"
    with pytest.raises(TypeError):
        to_output(42)
    assert describe_exception(KeyError("k")) == "KeyError: 'k'"
    assert describe_exception(RuntimeError()) == "RuntimeError"


def test_auth_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    assert auth_metadata(None) == ()
    assert auth_metadata("t") == (("authorization", "Bearer t"),)
