"""Starting, health-polling and stopping the background processes of the local services."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from genomeflow.errors import ServiceError
from genomeflow.storage.home import pid_alive


def spawn(argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Start ``argv`` in its own session (it outlives this process), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as output:
        try:
            child = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except FileNotFoundError as error:
            raise ServiceError(
                f"{argv[0]}: not installed; run `make setup` (it installs the service packages)"
            ) from error
    return child.pid


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the kernel picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def require_free_port(port: int, flag: str, service: str) -> None:
    """Raise ServiceError if something already listens on 127.0.0.1:``port``."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise ServiceError(
                f"{service}: port {port} on 127.0.0.1 is already in use (another genomeflow home, "
                f"or another program); stop it or choose another port with {flag}"
            )


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    """Whether GET ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_until(
    ready: Callable[[], bool], name: str, log: Path, timeout_s: float, pids: Sequence[int] = ()
) -> float:
    """Poll ``ready`` every 0.5 s; return the seconds it took.

    Raises:
        ServiceError: a watched pid died, or ``timeout_s`` passed; the message names the log.
    """
    start = time.monotonic()
    while not ready():
        dead = [pid for pid in pids if not pid_alive(pid)]
        if dead:
            raise ServiceError(f"{name} exited while starting; see its log {log}")
        if time.monotonic() - start > timeout_s:
            raise ServiceError(
                f"{name} did not become healthy within {timeout_s:.0f} s; see its log {log} "
                "(raise --timeout on a slow machine)"
            )
        time.sleep(0.5)
    return time.monotonic() - start


def stop(pids: Sequence[int], timeout_s: float = 20.0) -> None:
    """SIGTERM each process (and its session), then SIGKILL whatever is left after the timeout."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        _reap(pids)
        time.sleep(0.2)
    for pid in pids:
        if pid_alive(pid):
            _signal(pid, signal.SIGKILL)
    _reap(pids)


def _signal(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)  # the whole session: mlflow's workers too
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):  # already gone: nothing to stop
            os.kill(pid, signum)


def _reap(pids: Sequence[int]) -> None:
    """Collect exit statuses of our own children, so they do not linger as zombies."""
    for pid in pids:
        # Not our child (started by an earlier command): init reaps it.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
