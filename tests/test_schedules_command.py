"""``rqschedules export|import``: Schedule rows to and from RQ_CRON, and dumpdata/loaddata."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models.signals import pre_save
from django.test.utils import override_settings

from django_taskq.management.exit_codes import ExitCode
from django_taskq.models import Schedule
from tests.command_helpers import call, manage

pytestmark = pytest.mark.django_db(databases="__all__")

ADD = "tests.testapp.jobs.add"
ENTRIES: list[dict[str, Any]] = [
    {"name": "every-minute", "func": ADD, "cron": "* * * * *", "args": [1, 2], "queue": "high"},
    {"func": "tests.testapp.jobs.shout", "interval": 30, "kwargs": {"word": "hi"}, "timeout": "90"},
    {
        "name": "report", "func": ADD, "cron": "0 9 * * mon-fri", "args": [3, 4], "result_ttl": 600,
        "ttl": 60, "description": "the daily report", "grace": 300, "at_front": False,
    },
]  # fmt: skip


class ToDatabase:
    """Routes the Schedule model to one database alias (the tests run on SQLite and PostgreSQL)."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return self.alias if model is Schedule else None

    db_for_write = db_for_read


def aliases() -> list[str]:
    from django.conf import settings

    return list(settings.DATABASES)


@pytest.fixture(params=aliases())
def db_alias(request: pytest.FixtureRequest) -> Iterator[str]:
    with override_settings(DATABASE_ROUTERS=[ToDatabase(request.param)]):
        yield request.param


def write(tmp_path: Path, data: Any, name: str = "cron.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else data, encoding="utf-8")
    return str(path)


def failure(*args: str) -> CommandError:
    with pytest.raises(CommandError) as info:
        call("rqschedules", *args)
    assert info.value.returncode == ExitCode.ERROR
    return info.value


def names(alias: str = "default") -> list[str]:
    return list(Schedule.objects.using(alias).order_by("name").values_list("name", flat=True))


# --- import ----------------------------------------------------------------------------------


def test_import_creates_rows_on_each_database(tmp_path: Path, db_alias: str) -> None:
    out = call("rqschedules", "import", write(tmp_path, ENTRIES))
    assert "Imported 3 schedule(s): 3 created, 0 updated." in out
    assert names(db_alias) == ["every-minute", "report", "tests.testapp.jobs.shout"]
    shout = Schedule.objects.using(db_alias).get(name="tests.testapp.jobs.shout")
    assert (shout.interval, shout.kwargs, shout.timeout, shout.cron, shout.queue) == (
        30, {"word": "hi"}, 90, "", "default"
    )  # fmt: skip
    report = Schedule.objects.using(db_alias).get(name="report")
    assert (report.result_ttl, report.ttl, report.description, report.time_zone) == (
        600, 60, "the daily report", "UTC"
    )  # fmt: skip
    assert report.enabled and report.args == [3, 4]


def test_import_is_all_or_nothing_and_lists_every_problem(tmp_path: Path, db_alias: str) -> None:
    bad = [
        *ENTRIES,
        {"name": "bad-func", "func": "tests.testapp.jobs.nope", "interval": 5},
        {"name": "bad-args", "func": ADD, "interval": 5, "args": [1]},
        {"name": "bad-cron", "func": ADD, "cron": "61 * * * *", "args": [1, 2]},
        {"name": "half-second", "func": ADD, "interval": 0.5, "args": [1, 2]},
        {"name": "typo", "func": ADD, "interval": 5, "args": [1, 2], "queu": "high"},
    ]
    message = str(failure("import", write(tmp_path, bad)))
    assert message.startswith("Nothing done:")
    assert "'tests.testapp.jobs.nope' cannot be imported" in message
    assert "unknown key 'queu'" in message
    for name in ("bad-args", "bad-cron", "half-second"):
        assert f"({name})" in message, message
    assert "missing a required argument: 'b'" in message
    assert "The minute field '61' is not valid" in message
    assert "a schedule row counts whole seconds" in message
    assert names(db_alias) == []


def test_import_refuses_existing_names_unless_update(tmp_path: Path, db_alias: str) -> None:
    path = write(tmp_path, ENTRIES)
    call("rqschedules", "import", path)
    Schedule.objects.using(db_alias).filter(name="report").update(max_runs=3, enabled=False, run_count=7)
    assert "a schedule named 'report' exists (use --update" in str(failure("import", path))
    changed = [dict(ENTRIES[2], args=[5, 6])]
    out = call("rqschedules", "import", write(tmp_path, changed, "changed.json"), "--update")
    assert "1 schedule(s): 0 created, 1 updated" in out
    report = Schedule.objects.using(db_alias).get(name="report")
    assert (report.args, report.max_runs, report.enabled, report.run_count) == ([5, 6], None, True, 7)


def test_import_rolls_back_when_a_save_fails(tmp_path: Path, db_alias: str) -> None:
    """A row of the same name saved between the validation and the saves: nothing is kept."""

    sneaked: list[Schedule] = []

    def sneak_in(sender: type, instance: Schedule, **kwargs: Any) -> None:
        if instance.name == "report" and not sneaked:
            sneaked.append(Schedule(name="report", func=ADD, interval=5, args=[1, 2]))
            sneaked[0].save(using=db_alias)

    pre_save.connect(sneak_in, sender=Schedule, dispatch_uid="sneak_in")
    try:
        message = str(failure("import", write(tmp_path, ENTRIES)))
    finally:
        pre_save.disconnect(dispatch_uid="sneak_in", sender=Schedule)
    assert "changed while importing" in message and "nothing was saved" in message
    assert names(db_alias) == []


def test_import_refuses_keys_a_row_cannot_hold_unless_dropped(tmp_path: Path) -> None:
    entries = [{"name": "x", "func": ADD, "interval": 5, "args": [1, 2], "failure_ttl": 60, "grace": None}]
    path = write(tmp_path, entries)
    assert "RQ_CRON[0] (x): a schedule row has no failure_ttl, grace." in str(failure("import", path))
    assert names() == []
    err = StringIO()
    call_command("rqschedules", "import", path, "--drop-unsupported", stdout=StringIO(), stderr=err)
    assert "Dropped from x: failure_ttl, grace." in err.getvalue()
    assert names() == ["x"]


def test_import_reads_yaml_and_a_named_setting(tmp_path: Path) -> None:
    yaml_text = """RQ_CRON:
  - name: nightly
    func: tests.testapp.jobs.add
    cron: '0 3 * * *'
    args: [1, 2]
"""
    call("rqschedules", "import", write(tmp_path, yaml_text, "cron.yaml"))
    assert Schedule.objects.get(name="nightly").cron == "0 3 * * *"


@override_settings(RQ_CRON=[{"name": "from-settings", "func": ADD, "interval": 60, "args": [1, 2]}])
def test_import_from_settings() -> None:
    call("rqschedules", "import", "--from-settings")
    assert Schedule.objects.get(name="from-settings").interval == 60


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not valid JSON"),
        ('{"func": "x"}', "Expected a list of RQ_CRON entries, got a dict."),
        ('[["x"]]', "is a list, not a dict"),
    ],
)
def test_import_bad_files(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    assert expected in str(failure("import", str(path)))


def test_import_reads_json_on_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", StringIO(json.dumps(ENTRIES[:1])))
    call("rqschedules", "import", "-")
    assert names() == ["every-minute"]


def test_import_missing_file(tmp_path: Path) -> None:
    assert "Cannot read" in str(failure("import", str(tmp_path / "missing.json")))


def test_import_bad_yaml(tmp_path: Path) -> None:
    assert "is not valid YAML" in str(failure("import", write(tmp_path, "a: [b", "bad.yml")))


# --- export ----------------------------------------------------------------------------------


def make(name: str, **fields: Any) -> Schedule:
    values: dict[str, Any] = {"func": ADD, "args": [1, 2], **fields}
    return Schedule.objects.create(name=name, **values)


def test_export_prints_enabled_rows_as_rq_cron(tmp_path: Path) -> None:
    make("a-cron", cron="*/5 * * * *", queue="high", timeout=30, description="five")
    make("b-interval", interval=10, kwargs={}, args=[], func="tests.testapp.jobs.whisper")
    make("c-off", interval=10, enabled=False)
    out, err = StringIO(), StringIO()
    call_command("rqschedules", "export", stdout=out, stderr=err)
    assert json.loads(out.getvalue()) == [
        {"name": "a-cron", "func": ADD, "queue": "high", "cron": "*/5 * * * *", "args": [1, 2],
         "timeout": 30, "description": "five"},
        {"name": "b-interval", "func": "tests.testapp.jobs.whisper", "queue": "default", "interval": 10},
    ]  # fmt: skip
    assert "Left out c-off: disabled" in err.getvalue()

    # The export imports back as the same rows.
    Schedule.objects.all().delete()
    call("rqschedules", "import", write(tmp_path, json.loads(out.getvalue())))
    assert names() == ["a-cron", "b-interval"]
    assert Schedule.objects.get(name="a-cron").description == "five"


def test_export_as_python() -> None:
    make("a-cron", cron="0 9 * * *")
    out = call("rqschedules", "export", "--format", "python")
    scope: dict[str, Any] = {}
    exec(out, scope)  # noqa: S102 - our own output, checked to be a settings assignment
    assert scope["RQ_CRON"] == [
        {"name": "a-cron", "func": ADD, "queue": "default", "cron": "0 9 * * *", "args": [1, 2]}
    ]


def test_export_refuses_what_rq_cron_cannot_express_unless_skipped() -> None:
    make("once", run_at=datetime(2030, 1, 1, tzinfo=timezone.utc))
    make("limited", interval=60, max_runs=3)
    make("paris", cron="0 9 * * *", time_zone="Europe/Paris")
    make("plain", interval=60)
    message = str(failure("export"))
    assert "RQ_CRON cannot express once: run at (one-off)." in message
    assert "RQ_CRON cannot express limited: max runs." in message
    assert "paris: time zone Europe/Paris" in message
    out, err = StringIO(), StringIO()
    call_command("rqschedules", "export", "--skip-unsupported", stdout=out, stderr=err)
    assert [entry["name"] for entry in json.loads(out.getvalue())] == ["plain"]
    assert err.getvalue().count("Left out") == 3


# --- the command line and fixtures -----------------------------------------------------------


def test_usage_errors_exit_2(processes: None) -> None:
    for args in ((), ("import",), ("import", "x.json", "--from-settings"), ("export", "--format", "xml")):
        result = manage("rqschedules", *args)
        assert result.returncode == ExitCode.USAGE, (args, result.stderr)
        assert "usage:" in result.stderr


def test_dumpdata_loaddata_round_trip(tmp_path: Path) -> None:
    make("a-cron", cron="*/5 * * * *", time_zone="Europe/Paris", max_runs=4, kwargs={})
    make("b-once", run_at=datetime(2030, 1, 1, 12, tzinfo=timezone.utc), enabled=False)
    Schedule.objects.filter(name="a-cron").update(run_count=2, last_status="finished", last_job_id="j1")
    before = rows()
    fixture = tmp_path / "schedules.json"
    call_command("dumpdata", "django_taskq.Schedule", output=str(fixture), stdout=StringIO())
    Schedule.objects.all().delete()
    call_command("loaddata", str(fixture), stdout=StringIO())
    assert rows() == before


def rows() -> list[dict[str, Any]]:
    """Every field of every row; times to the millisecond, as Django's JSON serializer keeps them."""

    def millis(value: Any) -> Any:
        return (
            value.replace(microsecond=value.microsecond // 1000 * 1000)
            if isinstance(value, datetime)
            else value
        )

    return [
        {key: millis(value) for key, value in row.items()}
        for row in Schedule.objects.order_by("name").values()
    ]
