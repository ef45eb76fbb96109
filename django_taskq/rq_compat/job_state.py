"""A job's hash kept outside Redis (the outbox table) and made a Job again later.

``job_state`` gives the fields ``Job.save`` would write for an in-memory job, as the bytes
Redis would hold (``Job.to_dict`` through the client's encoder); ``restore_job`` builds a Job
of the queue's class from them as ``Job.fetch`` builds one from Redis (``Job.restore``): its
call data stays serialized, only ``meta`` is decoded. ``tests/test_rq_compat_job_state.py``
proves that a restored job writes the hash RQ writes for the original.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator

from redis import Redis
from rq.job import Job
from rq.queue import Queue

__all__ = ["job_state", "job_states_split", "restore_job"]


def job_state(job: Job, connection: Redis) -> dict[str, bytes]:
    """The job's hash fields, encoded by ``connection``'s encoder as a write would send them."""
    encoder = connection.get_encoder()
    return {name: bytes(encoder.encode(value)) for name, value in job.to_dict().items()}  # type: ignore[no-untyped-call]


def job_states_split(
    jobs: Iterable[Job], connection: Redis
) -> Iterator[tuple[dict[str, str], dict[str, bytes]]]:
    """Per job, ``job_state`` as (the fields that are UTF-8 text, decoded; the others), without
    encoding and decoding again the text ``Job.to_dict`` gives when the client writes UTF-8
    (the outbox stores text as JSON)."""
    encoder = connection.get_encoder()
    utf8 = codecs.lookup(encoder.encoding).name == "utf-8" and encoder.encoding_errors == "strict"
    encode = encoder.encode
    for job in jobs:
        text: dict[str, str] = {}
        binary: dict[str, bytes] = {}
        for name, value in job.to_dict().items():
            if utf8 and isinstance(value, str):
                text[name] = value
                continue
            raw = bytes(encode(value))  # type: ignore[no-untyped-call]
            try:
                text[name] = raw.decode()
            except UnicodeDecodeError:
                binary[name] = raw
        yield text, binary


def restore_job(queue: Queue, job_id: str, state: dict[str, bytes]) -> Job:
    """A Job of ``queue``'s class and serializer holding ``state`` (from ``job_state``)."""
    job: Job = queue.job_class(id=job_id, connection=queue.connection, serializer=queue.serializer)
    job.restore(state)
    return job
