"""DjangoPreforkWorker, the default worker kind: one long-lived, supervised work process."""

from __future__ import annotations

from typing import Any

from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.worker import SimpleWorker

from .base import DjangoWorkerMixin
from .supervisor import Supervisor, write_report


class DjangoPreforkWorker(DjangoWorkerMixin, SimpleWorker):
    """The default worker: a long-lived work process, supervised.

    ``work()`` forks one work process that runs RQ's loop (dequeue, run the job under its
    timeout, record the outcome) and reports each job start and end through a pipe. The
    calling process supervises it (``django_taskq.worker.supervisor``):

    - while a job runs it keeps the job's heartbeats fresh, and kills the work process if
      the job runs past its timeout by more than a minute (a job stuck in C code ignores
      the timeout alarm);
    - if the work process dies, the job it was running is failed (or retried per its
      ``Retry``) and a fresh work process takes over;
    - SIGTERM/SIGINT are forwarded: the first finishes the current job, the second stops it.

    Compared with ``fork`` (a process per job) this saves a fork, a Redis reconnection and
    a cold interpreter per job, while a crashing or hanging job still cannot take the
    worker down or be lost. Module-level state a job changes does persist to later jobs,
    as with Celery's prefork pool; ``--max-jobs`` bounds that if needed.
    """

    kill_grace = 60  # seconds past a job's timeout before the work process is killed
    idle_stop_grace = 10  # seconds an idle work process asked to stop may take before it is pressed
    kill_after_stop = 10  # seconds after the second stop signal before the work process is killed
    _taskq_fold_idle_into_outcome = True
    _taskq_report_fd: int | None = None  # set in the work process: the pipe to the supervisor

    # ------------------------------------------------------------------ in the work process

    def prepare_execution(self, job: Job) -> Execution:
        execution = super().prepare_execution(job)
        timeout = job.timeout or self.queue_class.DEFAULT_TIMEOUT
        write_report(self._taskq_report_fd, "start", job=job.id, execution=execution.id, queue=job.origin,
                     timeout=int(float(timeout)))  # fmt: skip
        return execution

    def execute_job(self, job: Job, queue: Queue) -> None:
        try:
            super().execute_job(job, queue)
        finally:
            write_report(self._taskq_report_fd, "end")

    def kill_horse(self, sig: Any = None) -> None:
        # RQ's "stop job" commands kill the work horse; a job running in the work process
        # can only be stopped by the supervisor, which kills and replaces the process.
        execution = next(iter(self.executions.values()), None)
        if self._taskq_report_fd is not None and execution is not None:
            write_report(self._taskq_report_fd, "stop", execution=execution.id)

    # --------------------------------------------------------------------- in the supervisor

    def work(self, burst: bool = False, logging_level: str | None = None, **kwargs: Any) -> bool:  # type: ignore[override]
        if self._taskq_report_fd is not None:  # the work process: RQ's loop
            return super().work(burst=burst, logging_level=logging_level, **kwargs)  # type: ignore[no-any-return]

        def run_work_process(report_fd: int) -> None:
            self._taskq_report_fd = report_fd
            self.taskq_checks_abandoned = False  # the supervisor does, busy or idle
            self.work(burst=burst, logging_level=logging_level, **kwargs)

        supervisor = Supervisor(
            self,
            run_work_process,
            kill_grace=self.kill_grace,
            idle_stop_grace=self.idle_stop_grace,
            kill_after_stop=self.kill_after_stop,
            logging_level=logging_level,
        )
        return supervisor.run()
