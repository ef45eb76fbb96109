"""rqcron's django-rq form: a cron config module of rq.cron.register() calls, run as RQ_CRON entries."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError

from django_taskq.management.cron_config import load_config, registrations, setting_entry
from django_taskq.queues import get_queue
from tests.command_helpers import call

pytestmark = pytest.mark.django_db  # rqcron also runs the enabled Schedule rows

CONFIG = """
from rq import cron
from tests.testapp.cron_jobs import record

cron.register(record, queue_name="default", cron="0 9 * * *")
cron.register(record, queue_name="high", interval=30, args=("x",), kwargs={"label": "y"},
              job_timeout=60, result_ttl=10, ttl=20, failure_ttl=30, meta={"k": 1}, name="every-30")
"""


def config_module(directory: Path, text: str = CONFIG) -> Path:
    """A config file with a name no other test uses (RQ imports it as a module)."""
    path = directory / f"cron_config_{uuid.uuid4().hex[:8]}.py"
    path.write_text(text)
    return path


def test_registrations_become_rq_cron_entries(tmp_path: Path) -> None:
    path = config_module(tmp_path)
    assert [setting_entry(item) for item in registrations(str(path))] == [
        {
            "func": "tests.testapp.cron_jobs.record",
            "queue": "default",
            "cron": "0 9 * * *",
            "result_ttl": 500,
        },
        {
            "func": "tests.testapp.cron_jobs.record",
            "queue": "high",
            "args": ["x"],
            "kwargs": {"label": "y"},
            "interval": 30,
            "timeout": 60,
            "result_ttl": 10,
            "ttl": 20,
            "failure_ttl": 30,
            "meta": {"k": 1},
            "name": "every-30",
        },
    ]
    entries = load_config(str(path))
    assert [(entry.name, entry.queue, entry.schedule) for entry in entries] == [
        ("tests.testapp.cron_jobs.record", "default", "0 9 * * *"),
        ("every-30", "high", "every 30 s"),
    ]
    assert entries[1].options == {
        "timeout": 60,
        "result_ttl": 10,
        "ttl": 20,
        "failure_ttl": 30,
        "meta": {"k": 1},
    }


def test_rq_loads_file_paths_and_dotted_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = config_module(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for given in (str(path), path.name, path.stem):  # absolute, relative file, dotted
        assert len(registrations(given)) == 2, (
            f"rq.cron.CronScheduler.load_config_from_file({given!r}) no longer calls register() once per "
            "rq.cron.register() of the module; update django_taskq.management.cron_config"
        )


def test_list_and_once_run_the_config_jobs(tmp_path: Path) -> None:
    path = config_module(tmp_path, CONFIG.replace('cron="0 9 * * *"', 'cron="* * * * *"'))
    listing = call("rqcron", str(path), "--list")
    assert "every-30\n  func      tests.testapp.cron_jobs.record on queue high" in listing
    assert "schedule  * * * * * (UTC)" in listing

    out = call("rqcron", str(path), "--once")
    assert "2 slot(s) claimed" in out
    (minutely,) = get_queue("default").get_jobs()
    (every_30,) = get_queue("high").get_jobs()
    assert minutely.func_name == every_30.func_name == "tests.testapp.cron_jobs.record"
    assert (list(every_30.args), every_30.kwargs, every_30.timeout, every_30.meta["k"]) == (
        ["x"],
        {"label": "y"},
        60,
        1,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("raise RuntimeError('boom')", "Cannot load the cron config .*boom"),
        (CONFIG.replace('queue_name="default"', 'queue_name="nope"'), "queue 'nope'.*E034"),
        (CONFIG.replace('cron="0 9 * * *"', 'cron="61 * * * *"'), "not a valid cron string.*E036"),
        (
            "from rq import cron\ncron.register(lambda: 1, queue_name='default', interval=5)",
            "cannot be imported.*E033",
        ),
        (
            CONFIG.replace('name="every-30"', 'webhooks=[object()], name="every-30"'),
            "webhooks are not supported",
        ),
    ],
)
def test_invalid_configs_are_command_errors(tmp_path: Path, text: str, message: str) -> None:
    path = config_module(tmp_path, text)
    with pytest.raises(CommandError, match=message) as caught:
        call("rqcron", str(path), "--once")
    assert caught.value.returncode == 1


def test_a_missing_module_is_a_command_error() -> None:
    with pytest.raises(CommandError, match="Cannot load the cron config 'no_such_cron_config'") as caught:
        call("rqcron", "no_such_cron_config")
    assert caught.value.returncode == 1
