"""The prefork supervisor: forks the work process, watches it through a pipe, keeps its job's
heartbeats fresh, and fails (or retries) the job of a work process that died or hung."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.utils import now

from ..backoff import Backoff, sleep_unless
from ..connections import client_location
from ..rq_compat.worker import fail_job, load_execution, mark_stopped_by_request, run_stopped_callback
from .base import REDIS_ERRORS, DjangoWorkerMixin
from .db import close_db_connections_before_fork, forget_inherited_db_connections
from .process import die_with_parent, flush_telemetry, restore_stop_signals, stop_signals_held

logger = logging.getLogger("django_taskq.worker")

# A work process that dies during a job is replaced at once (the job's fault; the job is failed
# or retried). One that dies without a job (start-up failure, killed while idle) is replaced
# after an exponential backoff, which starts over once a work process lived this long:
RESTART_RESET = 60  # seconds
STARTUP_FAILED = 3  # exit code of a work process that could not start


class WorkerStartupError(Exception):
    """The work process could not start (reported by the supervisor to the command)."""


# --- the pipe between the work process and its supervisor -----------------------------------
# One JSON object per line, so that job ids, queue names and messages may hold any character.
# Events: "start" (job, execution, queue, timeout), "end", "stop" (execution: RQ's stop-job
# command reached the work process), "startup_error" (message).


def write_report(fd: int | None, event: str, **fields: Any) -> None:
    """Send one event to the supervisor; a supervisor that is gone is not an error."""
    if fd is not None:
        with contextlib.suppress(OSError):
            os.write(fd, (json.dumps({"event": event, **fields}) + "\n").encode())


@dataclass(frozen=True)
class RunningJob:
    """The job the work process reported starting."""

    job_id: str
    execution_id: str
    queue: str
    timeout: int

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> RunningJob:
        return cls(str(report["job"]), str(report["execution"]), str(report["queue"]), int(report["timeout"]))


class Supervisor:
    """Runs and watches the work process of a prefork worker.

    ``run_work_process(report_fd)`` runs in the forked work process: RQ's work loop, reporting
    to ``report_fd``. The three limits are the DjangoPreforkWorker settings of the same names.
    """

    def __init__(
        self,
        worker: DjangoWorkerMixin,
        run_work_process: Callable[[int], Any],
        *,
        kill_grace: float,
        idle_stop_grace: float,
        kill_after_stop: float,
        logging_level: str | None = None,
    ) -> None:
        self.worker = worker
        self.run_work_process = run_work_process
        self.kill_grace = kill_grace
        self.idle_stop_grace = idle_stop_grace
        self.kill_after_stop = kill_after_stop
        self.logging_level = logging_level
        self.pid = 0
        self.signals = 0
        self.stop_sent_at: float | None = None
        self.job: RunningJob | None = None
        self.job_started = 0.0
        self.stop_job_requested: str | None = None
        self.startup_error: str | None = None
        self.first_signal_at = 0.0
        self.idle_since = 0.0
        self.died_in_job = False  # whether the last work process died while running a job

    def run(self) -> bool:
        if self.logging_level:
            logger.setLevel(self.logging_level)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        backoff = Backoff()
        try:
            while True:
                started = time.monotonic()
                code = self._run_once()
                if code == 0 or self.signals:
                    return True
                if code == STARTUP_FAILED:
                    raise WorkerStartupError(self.startup_error or "the work process could not start")
                if self.died_in_job:  # it started fine; a job killed it: no wait
                    backoff.reset()
                    logger.warning("Work process exited with %s during a job; starting a new one", code)
                    continue
                if time.monotonic() - started > RESTART_RESET:
                    backoff.reset()
                wait = backoff.next_delay()
                logger.warning("Work process exited with %s; starting a new one in %.0f s", code, wait)
                if sleep_unless(lambda: bool(self.signals), wait):
                    return True
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.signals and time.monotonic() - self.first_signal_at < 1:
            return  # the same Ctrl+C relayed twice (terminal and pool): not a second request
        if not self.signals:
            self.first_signal_at = time.monotonic()
        self.signals += 1
        if self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signum)
            if self.signals >= 2 and self.stop_sent_at is None:
                self.stop_sent_at = time.monotonic()

    def _run_once(self) -> int:
        """Fork a work process, watch it until it exits; its exit code (or -signal)."""
        read_fd, write_fd = os.pipe()
        close_db_connections_before_fork()
        flush_telemetry()
        supervisor_pid = os.getpid()
        with stop_signals_held():
            pid = os.fork()
            if pid == 0:
                restore_stop_signals()  # before the block ends, which would let them through
            else:
                self.pid = pid
                self.idle_since = time.monotonic()
        if pid == 0:  # the work process
            os.close(read_fd)
            code = 0
            try:
                os.setpgrp()  # its own group: the supervisor can end it with all it started
                forget_inherited_db_connections()
                die_with_parent(supervisor_pid)
                self.run_work_process(write_fd)
            except SystemExit:
                code = 0
            except BaseException as exc:
                if self.worker.birth_date is None:
                    write_report(write_fd, "startup_error", message=str(exc))
                    code = STARTUP_FAILED
                else:
                    logger.exception("Work process failed")
                    code = 1
            finally:
                flush_telemetry()  # os._exit skips the SDKs' exit-time flush
                os._exit(code)
        os.close(write_fd)
        try:
            return self._watch(read_fd)
        finally:
            os.close(read_fd)
            self.pid = 0

    def _watch(self, read_fd: int) -> int:
        buffer = b""
        interval = self.worker.heartbeat_interval
        last_beat = time.monotonic()
        while True:
            try:
                ready, _, _ = select.select([read_fd], [], [], min(1.0, interval))
            except InterruptedError:
                ready = []
            if ready:
                chunk = os.read(read_fd, 65536)
                if not chunk:  # the work process is gone
                    return self._reap()
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self._on_report(line)
            elif self._exited():
                # Gone without closing the pipe: a process it forked (RQ's scheduler) holds it.
                while select.select([read_fd], [], [], 0)[0]:
                    chunk = os.read(read_fd, 65536)
                    if not chunk:
                        break
                    buffer += chunk
                for line in buffer.split(b"\n"):
                    if line:
                        self._on_report(line)
                return self._reap()
            self.worker.clean_abandoned_jobs()  # other workers' dead jobs, every few seconds
            if self.job is None:
                self._press_idle_stop()
                continue
            elapsed = time.monotonic() - self.job_started
            since_stop = time.monotonic() - self.stop_sent_at if self.stop_sent_at is not None else 0.0
            stopped = self.stop_job_requested or since_stop > self.kill_after_stop
            timeout = self.job.timeout
            if stopped or (timeout > 0 and elapsed > timeout + self.kill_grace):
                if not stopped:
                    logger.warning(
                        "Job %s ran %.0f s past its timeout: killing the work process",
                        self.job.job_id,
                        elapsed - timeout,
                    )
                self._kill()
                continue
            if time.monotonic() - last_beat >= interval:
                last_beat = time.monotonic()
                self._maintain_heartbeats()

    def _press_idle_stop(self) -> None:
        """An idle work process that was asked to stop but still runs (stuck in a Redis call or
        in RQ's teardown) gets the second signal, then SIGKILL: no job of its is running, and
        one it took meanwhile is failed or retried by the second signal, not lost."""
        moment = time.monotonic()
        if self.stop_sent_at is not None:
            if moment - self.stop_sent_at > self.kill_after_stop:
                self._kill()
        elif self.signals and moment - max(self.first_signal_at, self.idle_since) > self.idle_stop_grace:
            logger.warning("The idle work process did not stop within %s s: signalling it again",
                           self.idle_stop_grace)  # fmt: skip
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGTERM)
            self.stop_sent_at = moment

    def _on_report(self, line: bytes) -> None:
        try:
            report = json.loads(line)
            event = report["event"]
        except (ValueError, KeyError, TypeError):
            logger.error("Unreadable report from the work process: %r", line)
            return
        if event == "start":
            self.job = RunningJob.from_report(report)
            self.job_started = time.monotonic()
            self.stop_job_requested = None
        elif event == "end":
            self.job = None
            self.idle_since = time.monotonic()
        elif event == "stop" and self.job is not None and self.job.execution_id == report.get("execution"):
            self.stop_job_requested = self.job.job_id
        elif event == "startup_error":
            self.startup_error = str(report.get("message", ""))

    def _kill(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)

    def _exited(self) -> bool:
        """Whether the work process has exited (without reaping it)."""
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def _reap(self) -> int:
        # The work process leads its own process group: end what it left behind (an orphaned
        # scheduler process) while its unreaped pid still reserves the group id.
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        while True:
            try:
                _, status = os.waitpid(self.pid, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                status = 0
                break
        code = os.waitstatus_to_exitcode(status)
        self.died_in_job = self.job is not None
        if self.job is not None:
            self._fail_orphaned_job(code)
        elif code not in (0, STARTUP_FAILED):
            self._register_death()
        return code

    def _load(self, running: RunningJob) -> tuple[Job, Execution] | None:
        """The running job and its execution; None once the job's hash is gone (deleted, or
        expired). Redis errors propagate, to the retry or log of the caller."""
        worker = self.worker
        try:
            job = worker.job_class.fetch(
                running.job_id, connection=worker.connection, serializer=worker.serializer
            )
        except NoSuchJobError:
            return None
        return job, load_execution(running.execution_id, running.job_id, worker.connection)

    def _maintain_heartbeats(self) -> None:
        if self.job is None:
            return
        try:
            loaded = self._load(self.job)
            if loaded is None:
                return
            job, execution = loaded
            if job.started_at is None:
                job.started_at = now()
            self.worker.maintain_heartbeats(job, execution)
        except REDIS_ERRORS as exc:
            logger.error(
                "Heartbeat failed, Redis at %s unreachable: %s", client_location(self.worker.connection), exc
            )

    def _fail_orphaned_job(self, code: int) -> None:
        """The work process died during a job: fail it (or retry it, per its Retry)."""
        running = self.job
        if running is None:
            return
        worker = self.worker

        def fail() -> None:
            loaded = self._load(running)
            if loaded is None:
                return
            job, execution = loaded
            if job.get_status(refresh=False) in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED):
                return
            job.ended_at = now()
            queue: Queue = worker.queue_class(
                running.queue,
                connection=worker.connection,
                job_class=worker.job_class,
                serializer=worker.serializer,
            )
            worker._taskq_job = job
            try:
                if self.stop_job_requested == running.job_id:
                    logger.warning("Job %s stopped on request", running.job_id)
                    mark_stopped_by_request(worker, running.job_id)
                    try:
                        run_stopped_callback(worker, job)
                    except Exception:
                        logger.exception("The stopped callback of job %s raised", running.job_id)
                    exc_string = "Job stopped by request; the work process was terminated."
                else:
                    reason = f"signal {-code}" if code < 0 else f"exit code {code}"
                    exc_string = f"Work process terminated unexpectedly ({reason}) while running the job."
                    logger.warning("Job %s failed: %s", running.job_id, exc_string)
                fail_job(worker, job, queue, exc_string, execution)
            finally:
                worker._taskq_job = None

        try:
            worker._taskq_retrying(fail)  # Redis outages are waited out
            self._register_death()
        except redis.RedisError:
            # Not an outage (e.g. a Redis refusing writes): the job stays STARTED until
            # registry maintenance fails or retries it when its heartbeat expires.
            logger.exception("Could not record the failure of job %s", running.job_id)
        finally:
            self.job = None
            self.stop_job_requested = None

    def _register_death(self) -> None:
        with contextlib.suppress(*REDIS_ERRORS):
            self.worker.register_death()  # type: ignore[no-untyped-call]
