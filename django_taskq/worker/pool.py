"""A small supervisor that keeps N worker processes running (``rqworker-pool``)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from ..backoff import Backoff
from .db import close_db_connections_before_fork, forget_inherited_db_connections
from .process import die_with_parent, flush_telemetry, restore_stop_signals, stop_signals_held

logger = logging.getLogger("django_taskq.pool")

# rqworker exits with 1 (bad input), 2 (bad command line) or 3 (Redis unreachable) when it
# cannot start: a member failing so soon after its start is not replaced but stops the pool.
FATAL_EXIT_CODES = frozenset({1, 2, 3})
STARTUP_SECONDS = 15.0


class Member(Protocol):
    pid: int

    def poll(self) -> int | None: ...

    def send_signal(self, sig: int) -> None: ...

    def terminate(self) -> None: ...

    def wait(self) -> int | None: ...


class ForkedMember:
    """A pool member forked from the pool process: no interpreter or Django start-up per member.

    ``target`` runs in the child and returns its exit code; exceptions exit with 1.
    """

    def __init__(self, target: Callable[[], int]) -> None:
        self.returncode: int | None = None
        close_db_connections_before_fork()
        flush_telemetry()
        sys.stdout.flush()
        sys.stderr.flush()
        pool_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                restore_stop_signals()
                die_with_parent(pool_pid)  # a member never outlives its pool, even a SIGKILLed one
                forget_inherited_db_connections()
                code = target()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0
            except BaseException:
                traceback.print_exc()
            finally:
                flush_telemetry()  # os._exit skips the SDKs' exit-time flush
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.pid = pid

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = 0
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def wait(self) -> int | None:
        while self.poll() is None:
            time.sleep(0.05)
        return self.returncode


class WorkerPool:
    """Start ``size`` worker processes with ``start``; replace the ones that die.

    A member that exits 0 on its own (``--burst`` done, ``--max-idle-time`` reached) is not
    replaced, except after ``--max-jobs`` (recycling). SIGTERM/SIGINT are passed on: the first
    lets every member finish its current job, the second stops the jobs as well.
    """

    def __init__(
        self, start: Callable[[], Member], size: int, *, recycle: bool = False, poll: float = 0.2
    ) -> None:
        self.start = start
        self.size = size
        self.recycle = recycle
        self.poll = poll
        self.members: dict[int, Member] = {}
        self.started_at: dict[int, float] = {}
        self.signals = 0
        self.replaced = 0

    def _start(self, slot: int) -> None:
        with stop_signals_held():  # a signal meanwhile reaches the new member too
            self.members[slot] = self.start()
        self.started_at[slot] = time.monotonic()
        logger.info("Pool member %d started with PID %d", slot, self.members[slot].pid)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signals += 1
        for process in self.members.values():
            if process.poll() is None:
                process.send_signal(signum)

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        exit_code = 0
        backoffs: dict[int, Backoff] = {}
        restart_at: dict[int, float] = {}
        try:
            for slot in range(self.size):
                self._start(slot)
            while self.members or restart_at:
                time.sleep(self.poll)
                for slot, process in list(self.members.items()):
                    code = process.poll()
                    if code is None:
                        continue
                    del self.members[slot]
                    if self.signals:
                        continue
                    if (
                        code in FATAL_EXIT_CODES
                        and time.monotonic() - self.started_at[slot] < STARTUP_SECONDS
                    ):
                        logger.error("Pool member %d exited with %d: stopping the pool", slot, code)
                        exit_code = code
                        self._on_signal(signal.SIGTERM, None)
                        self.signals += 1
                        continue
                    if code == 0 and not self.recycle:
                        continue
                    wait = 0.0
                    if code != 0:
                        pid = process.pid
                        logger.warning(
                            "Pool member %d (PID %d) exited with %d; replacing it", slot, pid, code
                        )
                        wait = backoffs.setdefault(slot, Backoff()).next_delay()
                    restart_at[slot] = time.monotonic() + wait
                for slot, when in list(restart_at.items()):
                    if self.signals:
                        restart_at.clear()
                        break
                    if time.monotonic() >= when:
                        del restart_at[slot]
                        self.replaced += 1
                        self._start(slot)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for process in self.members.values():
                if process.poll() is None:
                    process.terminate()
                    process.wait()
        return exit_code
