"""The executor API: serve Python functions as passer executor types.

Example::

    from passer import Executor

    ex = Executor()  # attaches to $PASSER_ATTACH_ADDR, else 127.0.0.1:20501

    @ex.task("python", slots=4)
    def handle(task):
        return task.payload.upper()  # bytes in, bytes (or str) out; raise to fail

    ex.run()  # blocks; SIGTERM/SIGINT drain running tasks, then exit

Each registered type gets its own ``Executors.Attach`` stream to the node
monitor, kept up with capped backoff when the node monitor is not there yet
or the stream breaks. See :mod:`passer._session` for the stream itself.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from types import FrameType
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import grpc

from passer.v1 import executor_pb2 as pb
from passer.v1 import executor_pb2_grpc as pb_grpc

from . import _task_logs
from . import codecs as _codecs
from ._adapt import EventLoopThread, adapt
from ._backoff import Backoff
from ._channel import TlsConfig, auth_metadata, open_channel, resolve_token
from ._pool import WorkerPool
from ._session import Session, SessionConfig, TaskFunction
from ._task_logs import DEFAULT_MAX_LOG_BYTES
from .remote import RemoteFunction

log = logging.getLogger("passer.executor")

#: Where executors attach when neither ``attach`` nor ``$PASSER_ATTACH_ADDR`` says.
DEFAULT_ATTACH_ADDR = "127.0.0.1:20501"


class _Attachment:
    """Keeps one executor type attached: a stream, and a new one when it breaks."""

    def __init__(
        self,
        config: SessionConfig,
        stub: pb_grpc.ExecutorsStub,
        metadata: Tuple[Tuple[str, str], ...],
        backoff: Backoff,
        stopping: threading.Event,
        on_shutdown: Callable[[], None],
    ) -> None:
        self.config = config
        self._stub = stub
        self._metadata = metadata
        self._backoff = backoff
        self._stopping = stopping
        self._on_shutdown = on_shutdown
        self._pool = WorkerPool(f"passer-{config.executor}")
        self._lock = threading.Lock()
        self._session: Optional[Session] = None
        self._call: Optional[grpc.Future] = None
        #: Set while a stream is attached (headers received from the node monitor).
        self.attached = threading.Event()
        self.thread = threading.Thread(
            target=self._loop, name=f"passer-attach-{config.executor}", daemon=True
        )

    def _loop(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            session = Session(self.config, self._pool)
            with self._lock:
                self._session = session
            self._serve(session)
            self.attached.clear()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > self._backoff.cap:
                self._backoff.reset()  # a long session: reattach promptly
            delay = self._backoff.next_delay()
            log.info("reattaching %s executor in %.2fs", self.config.executor, delay)
            self._stopping.wait(delay)

    def _serve(self, session: Session) -> None:
        call = self._stub.Attach(session.requests(), metadata=self._metadata)
        with self._lock:
            self._call = call
        try:
            call.initial_metadata()
            if not call.done():  # headers came and the stream is up
                self.attached.set()
                log.info(
                    "attached %s executor (%d slots)", self.config.executor, self.config.slots
                )
            for message in call:
                self.attached.set()  # in case the headers said nothing
                session.handle(message)
                if session.shutdown_requested and not self._stopping.is_set():
                    session.begin_drain()
                    self._on_shutdown()
            log.info("node monitor closed the %s stream", self.config.executor)
        except grpc.RpcError as error:
            if not self._stopping.is_set():
                log.warning(
                    "%s stream failed: %s %s",
                    self.config.executor,
                    error.code().name if error.code() else "?",
                    error.details() if hasattr(error, "details") else error,
                )
        finally:
            with self._lock:
                self._call = None
            session.abandon("stream to node monitor lost")

    def begin_drain(self) -> None:
        """Stops running new tasks on the current stream (see ``Session.begin_drain``)."""
        with self._lock:
            session = self._session
        if session is not None:
            session.begin_drain()

    def wait_idle(self, deadline: float) -> bool:
        """Waits for running tasks to be reported, until ``deadline`` (monotonic)."""
        with self._lock:
            session = self._session
        if session is None:
            return True
        return session.wait_idle(max(deadline - time.monotonic(), 0.0))

    def close(self, grace: float) -> None:
        """Flushes results, half-closes the stream, and cancels it after ``grace``."""
        with self._lock:
            session, call = self._session, self._call
        if session is not None:
            session.close()
        self.thread.join(grace)
        if call is not None and self.thread.is_alive():
            call.cancel()
        self.thread.join(grace)


class Executor:
    """Serves registered functions as executor types on the local node monitor."""

    def __init__(
        self,
        attach: Optional[str] = None,
        *,
        token: Optional[str] = None,
        name: Optional[str] = None,
        heartbeat_interval: float = 5.0,
        reconnect_backoff: Tuple[float, float] = (0.1, 5.0),
        drain_timeout: float = 30.0,
        exit_with_parent: Optional[bool] = None,
        channel_options: Optional[Sequence[Tuple[str, object]]] = None,
        tls: Optional[TlsConfig] = None,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
        echo_logs: bool = False,
    ) -> None:
        """Configures the executor; nothing connects until :meth:`start` or :meth:`run`.

        Args:
            attach: The node monitor's attach address (``host:port``,
                ``http://host:port`` or ``unix:/path``); defaults to
                ``$PASSER_ATTACH_ADDR``, else ``127.0.0.1:20501``.
            token: Shared token sent as ``authorization: Bearer``; defaults to
                ``$PASSER_TOKEN``.
            name: Shown in the node monitor's logs; defaults to script@host.
            heartbeat_interval: Seconds of silence before a heartbeat.
            reconnect_backoff: ``(base, cap)`` seconds between reattach tries.
            drain_timeout: Seconds a graceful stop waits for running tasks.
            exit_with_parent: Stop when the parent process (the supervising
                node monitor) dies; defaults to on when ``$PASSER_ATTACH_ADDR``
                is set, as it is under ``passer-node-monitor --executor``.
            channel_options: Extra gRPC channel options.
            tls: CA, client certificate and key, to attach to a node
                monitor's TLS listener. The loopback address a node monitor
                gives its own executors is plaintext and needs none.
            max_log_bytes: The most bytes of each task attempt's logs (what
                it prints or logs) sent with its result; the tail is kept.
            echo_logs: Also write what tasks print and log to the process's
                stderr (by default it goes only to the task's logs).
        """
        self.address = attach or os.environ.get("PASSER_ATTACH_ADDR") or DEFAULT_ATTACH_ADDR
        self._token = resolve_token(token)
        self.name = name or f"{os.path.basename(sys.argv[0]) or 'python'}@{socket.gethostname()}"
        self.heartbeat_interval = heartbeat_interval
        self.reconnect_backoff = reconnect_backoff
        self.drain_timeout = drain_timeout
        if exit_with_parent is None:
            exit_with_parent = "PASSER_ATTACH_ADDR" in os.environ
        self._parent_pid = os.getppid() if exit_with_parent else None
        self._channel_options = channel_options
        self._tls = tls
        self.max_log_bytes = max_log_bytes
        self.echo_logs = echo_logs
        self._functions: Dict[str, Tuple[TaskFunction, int]] = {}
        self._loop_thread = EventLoopThread()
        self._attachments: List[_Attachment] = []
        self._channel: Optional[grpc.Channel] = None
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()

    # === registration ===

    def register(
        self, executor: str, function: TaskFunction, slots: int = 1, *, codec: _codecs.CodecLike = None
    ) -> None:
        """Serves ``function`` as executor type ``executor`` with ``slots`` at once.

        ``function`` takes the :class:`RunningTask` and returns its output; it
        may be an ``async def`` (run on the executor's event loop, still
        ``slots`` at a time). With a ``codec`` (``"json"``, or a
        :mod:`passer.codecs` codec) the payload is decoded into
        ``task.value`` and the return value encoded; without one the output
        must be ``bytes`` or ``str``.
        """
        if not executor:
            raise ValueError("executor type name must not be empty")
        if slots < 1:
            raise ValueError("slots must be at least 1")
        if executor in self._functions:
            raise ValueError(f"executor type {executor!r} is already registered")
        if self._attachments:
            raise RuntimeError("register executor types before start()")
        resolved = None if codec is None else _codecs.resolve(codec)
        self._functions[executor] = (adapt(function, resolved, self._loop_thread), slots)

    def task(
        self, executor: str, slots: int = 1, *, codec: _codecs.CodecLike = None
    ) -> Callable[[TaskFunction], TaskFunction]:
        """Decorator form of :meth:`register`; returns the function unchanged."""

        def decorator(function: TaskFunction) -> TaskFunction:
            self.register(executor, function, slots, codec=codec)
            return function

        return decorator

    def function(
        self,
        executor: Optional[str] = None,
        *,
        slots: int = 1,
        codec: _codecs.CodecLike = "json",
        timeout: Optional[float] = None,
        max_attempts: Optional[int] = None,
        retry_on_error: bool = False,
        retry_backoff: Optional[float] = None,
    ) -> Callable[[Callable[..., object]], RemoteFunction]:
        """Serves a plain function (``def add(x, y)``, or ``async def``) as an
        executor type (default: the function's name) that client code calls
        with ``add.submit(client, 2, 3)`` or ``add.map(client, xs, ys)``; see
        :mod:`passer.remote`. Arguments and results go through ``codec``
        (JSON by default). ``timeout``, ``max_attempts``, ``retry_on_error``
        and ``retry_backoff`` are the defaults of the tasks its calls make
        (see :class:`passer.Task`)."""
        resolved = _codecs.resolve(codec)

        def decorator(function: Callable[..., object]) -> RemoteFunction:
            name = executor or function.__name__
            remote = RemoteFunction(
                function,
                name,
                resolved,
                timeout=timeout,
                max_attempts=max_attempts,
                retry_on_error=retry_on_error,
                retry_backoff=retry_backoff,
            )
            self.register(name, remote.handler(), slots, codec=resolved)
            return remote

        return decorator

    # === lifecycle ===

    def start(self) -> None:
        """Attaches every registered type in background threads and returns."""
        if not self._functions:
            raise RuntimeError("no executor type registered")
        if self._attachments:
            raise RuntimeError("executor already started")
        self._channel = open_channel(self.address, self._channel_options, self._tls)
        stub = pb_grpc.ExecutorsStub(self._channel)
        metadata = auth_metadata(self._token)
        for executor, (function, slots) in self._functions.items():
            hello = pb.ExecutorMessage.Hello(
                executor=executor, slots=slots, pid=os.getpid(), name=self.name
            )
            config = SessionConfig(
                executor,
                slots,
                function,
                hello,
                self.heartbeat_interval,
                self.max_log_bytes,
                self.echo_logs,
            )
            base, cap = self.reconnect_backoff
            attachment = _Attachment(
                config, stub, metadata, Backoff(base, cap), self._stopping, self._on_shutdown
            )
            self._attachments.append(attachment)
        log.info("attaching %s to %s", ", ".join(self._functions), self.address)
        _task_logs.install()
        for attachment in self._attachments:
            attachment.thread.start()

    def _on_shutdown(self) -> None:
        """The node monitor said ``Shutdown``: drain and stop in the background."""
        self._stopping.set()
        threading.Thread(target=self.stop, name="passer-shutdown", daemon=True).start()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Blocks until the executor has stopped; False if ``timeout`` passed first."""
        return self._stopped.wait(timeout)

    def wait_attached(self, timeout: Optional[float] = None) -> bool:
        """Waits until every registered type has a live stream; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for attachment in self._attachments:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not attachment.attached.wait(remaining):
                return False
        return True

    def stop(self, drain_timeout: Optional[float] = None) -> None:
        """Stops gracefully: start no new tasks, finish running ones, detach.

        Waits up to ``drain_timeout`` seconds (default: the constructor's) for
        running tasks; their results are sent before the streams close.
        """
        self._stopping.set()
        with self._stop_lock:
            if self._stopped.is_set():
                return
            grace = self.drain_timeout if drain_timeout is None else drain_timeout
            deadline = time.monotonic() + grace
            for attachment in self._attachments:
                attachment.begin_drain()
            for attachment in self._attachments:
                if not attachment.wait_idle(deadline):
                    log.warning("%s tasks still running at stop", attachment.config.executor)
            for attachment in self._attachments:
                attachment.close(grace=2.0)
            if self._channel is not None:
                self._channel.close()
            self._loop_thread.stop()
            _task_logs.uninstall()
            self._stopped.set()
            log.info("executor stopped")

    def run(self) -> None:
        """Starts, blocks until SIGTERM/SIGINT, a ``Shutdown`` or :meth:`stop`, then drains."""
        self.start()
        restore = self._install_signal_handlers()
        try:
            while not self._stopping.wait(0.5):
                if self._parent_pid is not None and os.getppid() != self._parent_pid:
                    log.warning("parent process %d is gone; stopping", self._parent_pid)
                    break
            self.stop()
        finally:
            restore()

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        signals = [signal.SIGINT, signal.SIGTERM]
        previous = {sig: signal.getsignal(sig) for sig in signals}

        def on_signal(signum: int, _frame: Optional[FrameType]) -> None:
            if self._stopping.is_set():
                log.warning("second signal: exiting without draining")
                os._exit(128 + signum)
            log.info("received %s; draining", signal.Signals(signum).name)
            self._stopping.set()

        for sig in signals:
            signal.signal(sig, on_signal)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore
