"""No pickle runs in the web process: a job whose every field holds a malicious pickle is shown
and acted on without running it (rq_compat.safe_decode and the field-level actions)."""

from __future__ import annotations

import os
import pickle
import zlib
from base64 import b64encode
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

import pytest
from django.test import Client

from django_taskq import get_connection
from django_taskq.rq_compat.safe_decode import Opaque, job_call_data, restricted_unpickle, safe_loads
from django_taskq.rq_compat.storage import results_key
from django_taskq.serializers import JSONSerializer
from tests.dashboard_helpers import make_user, rq_queue
from tests.testapp.jobs import add

pytestmark = pytest.mark.django_db


class Evil:
    """Unpickling it creates ``path`` (a directory): proof that the pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.mkdir, (str(self.path),)


def test_the_restricted_unpickler_builds_plain_data_and_runs_nothing(tmp_path: Path) -> None:
    plain = {"a": [1, 2.5, None, True], "b": (b"x", "y"), "c": {1, 2}, "d": frozenset({3})}
    typed = [datetime(2026, 1, 2, tzinfo=timezone.utc), Decimal("1.5"), UUID(int=7)]
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert restricted_unpickle(pickle.dumps(plain, protocol)) == plain
        assert restricted_unpickle(pickle.dumps(typed, protocol)) == typed
    marker = tmp_path / "ran"
    value = safe_loads(pickle.dumps({"x": Evil(marker)}), None)
    assert isinstance(value["x"], Opaque) and "posix.mkdir" in repr(value["x"])
    assert not marker.exists()
    top = safe_loads(pickle.dumps(Evil(marker)), None)
    assert isinstance(top, Opaque) and "bytes" in repr(top)
    assert not marker.exists()
    # JSON serializers are decoded as they are.
    assert safe_loads(JSONSerializer.dumps({"when": typed[0]}), JSONSerializer) == {"when": typed[0]}
    assert job_call_data(zlib.compress(pickle.dumps(("f", None, (1,), {"k": 2}))), None) == (
        "f",
        None,
        (1,),
        {"k": 2},
    )


def _poison(job_id: str, marker: Path) -> None:
    """Every serialized field of the job hash, and its result stream, hold the malicious pickle."""
    connection = get_connection()
    evil = pickle.dumps(Evil(marker))
    data = zlib.compress(pickle.dumps(("tests.testapp.jobs.add", None, (Evil(marker),), {"k": Evil(marker)})))
    connection.hset(
        f"rq:job:{job_id}",
        mapping={"data": data, "meta": evil, "result": evil, "exc_info": zlib.compress(evil)},
    )
    connection.xadd(results_key(job_id), {"type": 1, "return_value": b64encode(evil), "worker_name": "w"})


@pytest.mark.parametrize(
    ("state", "actions"),
    [
        ("queued", ["cancel", "delete"]),
        ("scheduled", ["enqueue"]),
        ("deferred", ["enqueue"]),
        ("started", ["stop"]),
        ("failed", ["requeue"]),
    ],
)
def test_a_poisoned_job_is_shown_and_acted_on_without_running_it(
    tmp_path: Path, state: str, actions: list[str]
) -> None:
    from datetime import timedelta

    queue = rq_queue()
    if state == "scheduled":
        job = queue.enqueue_in(timedelta(hours=1), add, 1, 2)
    elif state == "deferred":
        job = queue.enqueue(add, 1, 2, depends_on=queue.enqueue(add, 0, 0))
    else:
        job = queue.enqueue(add, 1, 2)
        if state in ("started", "failed"):
            get_connection().hset(f"rq:job:{job.id}", mapping={"status": state, "worker_name": "w1"})
            registry = queue.started_job_registry if state == "started" else queue.failed_job_registry
            get_connection().zadd(registry.key, {job.id: 9_999_999_999})
    marker = tmp_path / "ran"
    _poison(job.id, marker)
    client = Client()
    user = make_user("manager")
    assert user is not None
    client.force_login(user)
    page = client.get(f"/django-rq/queues/default/job/{job.id}/")
    body = page.content.decode()
    assert page.status_code == 200, body[:2000]
    assert "tests.testapp.jobs.add" in body and "posix.mkdir object" in body
    for path in ("queues/default/", f"queues/default/{state}/"):
        assert client.get(f"/django-rq/{path}").status_code == 200
    for action in actions:
        response = client.post(
            f"/django-rq/queues/default/job/{job.id}/action/", {"action": action, "confirmed": "yes"}
        )
        assert response.status_code == 302, (action, response.content.decode()[:2000])
    assert not marker.exists(), "a pickle ran in the web process"
    if state == "queued":  # the meta field survives the action: nothing was rewritten from a decoded job
        assert get_connection().hget(f"rq:job:{job.id}", "meta") is None  # deleted after cancel+delete


class _Refusing:
    """A serializer that fails if anything is deserialized."""

    calls: ClassVar[list[bytes]] = []

    @staticmethod
    def dumps(obj: Any) -> bytes:
        return pickle.dumps(obj)

    @classmethod
    def loads(cls, data: bytes) -> Any:
        cls.calls.append(data)
        return pickle.loads(data)  # noqa: S301  (our own test bytes)


def test_restore_plain_leaves_out_exactly_what_rq_job_restore_deserializes() -> None:
    from rq.job import Job

    from django_taskq.rq_compat.safe_decode import EAGER_FIELDS, restore_plain

    connection = get_connection()
    job = Job.create(add, args=(1, 2), connection=connection, serializer=_Refusing, meta={"k": "v"})
    job.save()
    connection.hset(job.key, "result", pickle.dumps(3))
    raw = connection.hgetall(job.key)
    _Refusing.calls.clear()
    restore_plain(Job(job.id, connection=connection, serializer=_Refusing), raw)
    assert _Refusing.calls == [], (
        "rq.job.Job.restore deserializes a field rq_compat.safe_decode.EAGER_FIELDS misses"
    )
    for field in (b"meta", b"result"):
        assert field in EAGER_FIELDS and field in raw
        _Refusing.calls.clear()
        Job(job.id, connection=connection, serializer=_Refusing).restore(
            {name: value for name, value in raw.items() if name not in EAGER_FIELDS or name == field}
        )
        assert _Refusing.calls, f"rq.job.Job.restore no longer deserializes {field!r}; update EAGER_FIELDS"
