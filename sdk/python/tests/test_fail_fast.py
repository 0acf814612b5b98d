"""The client fails fast, with a reason, when no scheduler can take a job
(issues 16 and 20), against real processes:

- a certificate error (wrong CA; no client certificate under mutual TLS)
  raises :class:`passer.TlsError` at once, naming the address and the TLS
  reason, with no retry loop;
- a dead address raises :class:`passer.Unavailable` within
  ``connect_timeout``, naming the address and "connection refused";
- a node monitor's port raises at once: "this is a node monitor, not a
  scheduler".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from cluster import Process, require_binaries
from fakes import DEAD_ADDRESS
from passer import Client, Task, TlsConfig, TlsError, Unavailable


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _make_ca(directory: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(directory / f"{name}.key"), "-out", str(directory / f"{name}.pem"),
        "-subj", f"/CN={name}", "-days", "2",
    )


def _make_leaf(directory: Path, name: str, ca: str) -> None:
    key, csr, pem = (directory / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "extendedKeyUsage=serverAuth,clientAuth",
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(directory / f"{ca}.pem"),
        "-CAkey", str(directory / f"{ca}.key"), "-CAcreateserial", "-out", str(pem),
        "-days", "2", "-copy_extensions", "copy",
    )


@pytest.fixture(scope="module")
def pki() -> Iterator[Path]:
    """A CA with a server and a client certificate, and an unrelated CA."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    with tempfile.TemporaryDirectory(prefix="passer-pki-") as name:
        directory = Path(name)
        _make_ca(directory, "ca")
        _make_ca(directory, "other-ca")
        _make_leaf(directory, "server", "ca")
        _make_leaf(directory, "client", "ca")
        yield directory


def _start(binary: str, args: List[str], log_dir: Path) -> "tuple[Process, str]":
    """Starts ``binary`` on any free port; returns it with the address it bound."""
    directory = require_binaries()
    env = dict(os.environ)
    env.setdefault("RUST_LOG", "warn")
    ready = log_dir / f"{binary}.ready"
    argv = [str(directory / binary), "--listen", "127.0.0.1:0", "--ready-file", str(ready), *args]
    process = Process(binary, argv, env, log_dir)
    try:
        return process, process.wait_ready(ready)["grpc"]
    except BaseException:
        process.kill()
        raise


@pytest.fixture(scope="module")
def mtls_scheduler(pki: Path) -> Iterator[str]:
    """A scheduler serving TLS that demands a client certificate from ``ca``."""
    with tempfile.TemporaryDirectory(prefix="passer-tls-") as logs:
        process, address = _start(
            "passer-scheduler",
            [
                "--node-monitors", DEAD_ADDRESS,
                "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
                "--tls-ca", str(pki / "ca.pem"), "--tls-client-ca", str(pki / "ca.pem"),
            ],
            Path(logs),
        )
        try:
            yield address
        finally:
            process.kill()


def _submit_fails(client: Client, error_class: type) -> "tuple[BaseException, float]":
    started = time.monotonic()
    with client:
        with pytest.raises(error_class) as info:
            client.submit(None, [Task("t", "echo", b"x")])
    return info.value, time.monotonic() - started


def test_a_wrong_ca_fails_at_once_naming_the_address(pki: Path, mtls_scheduler: str) -> None:
    tls = TlsConfig(ca=str(pki / "other-ca.pem"), cert=str(pki / "client.pem"), key=str(pki / "client.key"))
    error, took = _submit_fails(Client([mtls_scheduler], tls=tls, connect_timeout=30), TlsError)
    assert mtls_scheduler in str(error)
    assert "CERTIFICATE_VERIFY_FAILED" in str(error) or "certificate" in str(error).lower(), str(error)
    assert took < 5, f"took {took:.1f}s: retried a certificate error"


def test_no_client_certificate_under_mutual_tls_fails_at_once(pki: Path, mtls_scheduler: str) -> None:
    tls = TlsConfig(ca=str(pki / "ca.pem"))
    error, took = _submit_fails(Client([mtls_scheduler], tls=tls, connect_timeout=30), TlsError)
    assert mtls_scheduler in str(error)
    assert took < 5, f"took {took:.1f}s: retried a certificate error: {error}"


def test_the_right_certificates_are_accepted(pki: Path, mtls_scheduler: str) -> None:
    tls = TlsConfig(ca=str(pki / "ca.pem"), cert=str(pki / "client.pem"), key=str(pki / "client.key"))
    # The scheduler has no node monitor: the handshake passes and the job is
    # refused for want of an executor, which is not a TLS error.
    with Client([mtls_scheduler], tls=tls, connect_timeout=2) as client:
        with pytest.raises(Exception) as info:
            client.submit(None, [Task("t", "echo", b"x")], timeout=10)
    assert not isinstance(info.value, TlsError), info.value


def test_a_dead_address_fails_within_the_connect_timeout() -> None:
    address = DEAD_ADDRESS
    error, took = _submit_fails(Client([address], connect_timeout=3), Unavailable)
    assert address in str(error) and "connection refused" in str(error), str(error)
    assert took < 3.5, f"took {took:.1f}s"


def test_a_node_monitor_is_named_as_one(tmp_path: Path) -> None:
    process, address = _start("passer-node-monitor", [], tmp_path)
    try:
        error, took = _submit_fails(Client([address]), Unavailable)
    finally:
        process.kill()
    assert "this is a node monitor, not a scheduler" in str(error), str(error)
    assert address in str(error)
    assert took < 5, f"took {took:.1f}s"
