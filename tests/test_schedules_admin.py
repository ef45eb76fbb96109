"""The Schedule admin through Django's test client: list, filters, validation, actions, permissions."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.test.utils import override_settings
from rq import Queue

from django_taskq import get_connection
from django_taskq.cron.database import upcoming_runs
from django_taskq.models import Schedule
from tests.command_helpers import closed_port

pytestmark = pytest.mark.django_db

ADD = "tests.testapp.jobs.add"
CHANGELIST = "/admin/django_taskq/schedule/"
ADD_URL = f"{CHANGELIST}add/"


def change_url(schedule: Schedule) -> str:
    return f"{CHANGELIST}{schedule.pk}/change/"


def client_with(*codenames: str, username: str = "user") -> Client:
    """A staff user holding these Schedule permissions (e.g. view_schedule, change_schedule)."""
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(
            Permission.objects.get(codename=codename, content_type__app_label="django_taskq")
        )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def editor() -> Client:
    return client_with(
        "view_schedule", "add_schedule", "change_schedule", "delete_schedule", username="editor"
    )


@pytest.fixture
def viewer() -> Client:
    return client_with("view_schedule", username="viewer")


def make(name: str, **fields: Any) -> Schedule:
    values: dict[str, Any] = {"func": ADD, "args": [1, 2], "interval": 60, **fields}
    return Schedule.objects.create(name=name, **values)


def form_data(**overrides: str) -> dict[str, str]:
    """A valid add/change form (an interval of 60 s), with ``overrides``; split date/time fields."""
    data = {
        "name": "nightly", "enabled": "on", "func": ADD, "args": "[1, 2]", "kwargs": "{}",
        "queue": "default", "description": "", "cron": "", "interval": "60",
        "run_at_0": "", "run_at_1": "", "time_zone": "UTC", "start_at_0": "", "start_at_1": "",
        "end_at_0": "", "end_at_1": "", "max_runs": "", "timeout": "", "result_ttl": "", "ttl": "",
    }  # fmt: skip
    data.update(overrides)
    return data


def queued(queue: str = "default") -> list[str]:
    return Queue(queue, connection=get_connection(queue)).job_ids


# --- the changelist --------------------------------------------------------------------------


def test_changelist_shows_schedule_next_run_last_job_and_counts(viewer: Client) -> None:
    row = make("every-minute", cron="* * * * *", interval=None, queue="high")
    Schedule.objects.filter(pk=row.pk).update(
        last_job_id="job-123", last_status="finished", run_count=3, success_count=2, failure_count=1,
        last_run_at=datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc),
    )  # fmt: skip
    make("off", enabled=False)
    response = viewer.get(CHANGELIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert "cron * * * * * (UTC)" in page and "every minute" in page
    assert '<a href="/admin/django_taskq/queue/queues/high/job/job-123/" title="job-123">finished</a>' in page
    assert "3 / 2 / 1" in page
    assert "disabled" in page  # the next run of the disabled row
    result = response.context["cl"].result_list
    assert [r.name for r in result] == ["every-minute", "off"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=cron", ["c"]),
        ("kind=interval", ["i", "off"]),
        ("kind=once", ["o"]),
        ("enabled__exact=0", ["off"]),
        ("queue=high", ["c"]),
        ("q=shout", ["i"]),
        ("q=of", ["off"]),
    ],
)
def test_filters_and_search(viewer: Client, query: str, expected: list[str]) -> None:
    make("c", cron="0 9 * * *", interval=None, queue="high")
    make("i", func="tests.testapp.jobs.shout", args=["x"])
    make("o", interval=None, run_at=datetime(2030, 1, 1, tzinfo=timezone.utc))
    make("off", enabled=False)
    response = viewer.get(f"{CHANGELIST}?{query}")
    assert response.status_code == 200
    assert [r.name for r in response.context["cl"].result_list] == expected


# --- the form: every mistake is a form error, nothing is saved -------------------------------

BAD_INPUTS: list[tuple[dict[str, str], str, str]] = [
    ({"func": "tests.testapp.jobs.nope"}, "func", "cannot be imported"),
    ({"func": "no_such_module.run"}, "func", "No module named 'no_such_module'"),
    ({"func": "tests.schedules_broken_module.run"}, "func", "raised RuntimeError: broken on import"),
    ({"func": "tests.testapp.cron_jobs.not_callable"}, "func", "is not callable"),
    ({"func": ""}, "func", "This field is required."),
    ({"args": "[1,"}, "args", "Enter a valid JSON."),
    ({"args": '{"a": 1}'}, "args", "Enter a JSON list"),
    ({"kwargs": "[1]"}, "kwargs", "Enter a JSON object"),
    ({"args": "[1]"}, "args", "missing a required argument: 'b'"),
    ({"args": "[1, 2, 3]"}, "args", "too many positional arguments"),
    ({"kwargs": '{"c": 1}'}, "kwargs", "unexpected keyword argument 'c'"),
    ({"interval": ""}, "cron", "Set one of cron, interval or run at."),
    ({"cron": "* * * * *"}, "interval", "Set only one of cron, interval and run at (cron and interval are"),
    ({"run_at_0": "2030-01-01", "run_at_1": "09:00"}, "run_at", "Set only one of"),
    ({"interval": "", "cron": "61 * * * *"}, "cron", "The minute field '61' is not valid (allowed: 0-59"),
    ({"interval": "", "cron": "0 9 * * 8"}, "cron", "The day of week field '8' is not valid"),
    ({"interval": "", "cron": "* * *"}, "cron", "'* * *' has 3 fields; a cron string has five"),
    ({"interval": "", "cron": "@fortnightly"}, "cron", "'@fortnightly' is not an alias; use one of @yearly"),
    ({"interval": "", "cron": "0 0 30 2 *"}, "cron", "'0 0 30 2 *' never matches a date."),
    ({"interval": "0"}, "interval", "The interval must be a positive number of seconds."),
    ({"interval": "-5"}, "interval", "greater than or equal to 0"),
    ({"interval": "soon"}, "interval", "Enter a whole number."),
    ({"queue": "nope"}, "queue", "'nope' is not a queue of RQ_QUEUES (known: default, high, low, other-db"),
    ({"time_zone": "Mars/Olympus"}, "time_zone", "'Mars/Olympus' is not a time zone."),
    ({"time_zone": "Europe/Pariss"}, "time_zone", "Did you mean 'Europe/Paris'?"),
    (
        {"start_at_0": "2030-01-02", "start_at_1": "00:00", "end_at_0": "2030-01-01", "end_at_1": "00:00"},
        "end_at", "The end must be after the start.",
    ),
    (
        {"interval": "", "run_at_0": "2030-01-01", "run_at_1": "00:00", "end_at_0": "2029-01-01",
         "end_at_1": "00:00"},
        "run_at", "This is after the end",
    ),
    ({"max_runs": "0"}, "max_runs", "Enter at least 1, or leave empty for no limit."),
    ({"timeout": "0"}, "timeout", "Enter at least 1 second"),
    ({"result_ttl": "-5"}, "result_ttl", "Enter -1 (keep forever)"),
    ({"name": "taken"}, "name", "Schedule with this Name already exists."),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "field", "message"), BAD_INPUTS, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD_INPUTS)]
)
def test_add_form_refuses_bad_input(
    editor: Client, overrides: dict[str, str], field: str, message: str
) -> None:
    make("taken")
    response = editor.post(ADD_URL, form_data(**overrides))
    assert response.status_code == 200, "the form is shown again, not saved (nor a 500)"
    errors = response.context["adminform"].form.errors
    assert any(message in error for error in errors.get(field, [])), errors
    assert list(Schedule.objects.values_list("name", flat=True)) == ["taken"]


def test_a_field_that_failed_is_not_checked_again_by_the_model(editor: Client) -> None:
    """Invalid JSON is the only error of args: no signature complaint about its stale value."""
    response = editor.post(ADD_URL, form_data(args="[1,"))
    assert response.context["adminform"].form.errors["args"] == ["Enter a valid JSON."]
    response = editor.post(ADD_URL, form_data(interval="soon"))
    assert set(response.context["adminform"].form.errors) == {"interval"}


def test_add_form_saves_valid_input(editor: Client) -> None:
    data = form_data(
        name="report", cron="  0   9 * * mon-fri ", interval="", time_zone="Europe/Paris", kwargs='{"b": 2}',
        args="[1]", max_runs="10", queue="high", timeout="30",
    )  # fmt: skip
    response = editor.post(ADD_URL, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    row = Schedule.objects.get(name="report")
    assert (row.cron, row.interval, row.time_zone, row.args, row.kwargs, row.max_runs, row.queue) == (
        "0 9 * * mon-fri", None, "Europe/Paris", [1], {"b": 2}, 10, "high"
    )  # fmt: skip


def test_change_form_refuses_bad_input_and_keeps_the_row(editor: Client) -> None:
    row = make("nightly")
    for overrides in ({"cron": "61 * * * *", "interval": ""}, {"args": "[1]"}, {"queue": "gone"}):
        response = editor.post(change_url(row), form_data(**overrides))
        assert response.status_code == 200 and response.context["adminform"].form.errors, overrides
    fresh = Schedule.objects.get(pk=row.pk)
    assert (fresh.cron, fresh.interval, fresh.args, fresh.queue, fresh.updated_at) == (
        "", 60, [1, 2], "default", row.updated_at
    )  # fmt: skip


def test_change_form_keeps_a_queue_removed_from_settings_visible(editor: Client) -> None:
    row = make("nightly", queue="high")
    with override_settings(RQ_QUEUES={"default": {"URL": "redis://127.0.0.1:1/0"}}):
        page = editor.get(change_url(row)).content.decode()
        assert '<option value="high" selected>high</option>' in page
        response = editor.post(change_url(row), form_data(queue="high"))
    assert (
        "'high' is not a queue of RQ_QUEUES (known: default)."
        in response.context["adminform"].form.errors["queue"]
    )


def test_change_form_shows_the_next_five_runs(viewer: Client) -> None:
    row = make("paris", cron="0 9 * * *", interval=None, time_zone="Europe/Paris")
    page = viewer.get(change_url(row)).content.decode()
    shown = re.findall(r"<li>([^<]*)</li>", page.split('class="taskq-upcoming"', 1)[1].split("</ol>", 1)[0])
    expected = upcoming_runs(row, count=5)
    assert len(shown) == 5
    paris = ZoneInfo("Europe/Paris")
    for text, run in zip(shown, expected, strict=True):
        local = run.astimezone(paris)
        assert text == f"{local:%Y-%m-%d} 09:00:00 {local.tzname()} ({run:%H:%M} UTC)", text


def test_the_next_runs_say_when_there_are_none(viewer: Client) -> None:
    row = make("past", interval=None, run_at=datetime.now(timezone.utc) - timedelta(days=1))
    assert "None: the schedule has no run left." in viewer.get(change_url(row)).content.decode()
    assert "Shown once the schedule is saved." in client_with("add_schedule").get(ADD_URL).content.decode()
    broken = make("broken")
    Schedule.objects.filter(pk=broken.pk).update(time_zone="Mars/Olympus")  # past the form
    page = viewer.get(change_url(broken)).content.decode()
    assert (
        "None: it cannot run until time_zone is fixed (&#x27;Mars/Olympus&#x27; is not a time zone." in page
    )


# --- actions ---------------------------------------------------------------------------------


def post_action(client: Client, action: str, *rows: Schedule) -> Any:
    data = {"action": action, "_selected_action": [str(row.pk) for row in rows], "index": "0"}
    return client.post(CHANGELIST, data, follow=True)


def test_run_now_enqueues_one_job_per_row_and_logs_it(editor: Client) -> None:
    first, second, other = make("first"), make("second", queue="high"), make("other")
    response = post_action(editor, "run_now_action", first, second)
    assert response.status_code == 200
    assert len(queued("default")) == 1 and len(queued("high")) == 1
    first_job, second_job = queued("default")[0], queued("high")[0]
    shown = [str(message) for message in response.context["messages"]]
    assert f"first: job {first_job} enqueued on queue default." in shown
    log = {entry.object_repr: entry.change_message for entry in LogEntry.objects.all()}
    assert log == {
        "first": f"Ran now: job {first_job} on queue default.",
        "second": f"Ran now: job {second_job} on queue high.",
    }
    assert Schedule.objects.get(pk=first.pk).run_count == 1
    assert Schedule.objects.get(pk=other.pk).run_count == 0


def test_run_now_reports_redis_errors_without_a_500(editor: Client) -> None:
    queues = {"default": {"URL": f"redis://127.0.0.1:{closed_port()}/0"}}
    with override_settings(RQ_QUEUES=queues):
        row = make("down")
        response = post_action(editor, "run_now_action", row)
    assert response.status_code == 200
    [message] = [str(message) for message in response.context["messages"]]
    assert message.startswith("down: not run:"), message
    assert not LogEntry.objects.exists()


def test_run_now_reports_a_row_that_cannot_run(editor: Client) -> None:
    row = make("broken")
    Schedule.objects.filter(pk=row.pk).update(cron="not a cron", interval=None)  # past the form
    response = post_action(editor, "run_now_action", row)
    [message] = [str(message) for message in response.context["messages"]]
    assert "broken: not run:" in message and "not a valid cron string" in message
    assert queued() == [] and not LogEntry.objects.exists()


def test_enable_and_disable_save_log_and_touch_updated_at(editor: Client) -> None:
    on, off = make("on"), make("off", enabled=False)
    before = Schedule.objects.get(pk=on.pk).updated_at
    response = post_action(editor, "disable_action", on, off)
    assert "Disabled 1 schedule." in [str(m) for m in response.context["messages"]]
    fresh = Schedule.objects.get(pk=on.pk)
    assert not fresh.enabled and fresh.updated_at > before, "the runners notice edits by updated_at"
    post_action(editor, "enable_action", on, off)
    assert Schedule.objects.filter(enabled=True).count() == 2
    messages = list(LogEntry.objects.order_by("pk").values_list("object_repr", "change_message"))
    assert messages == [("on", "Disabled."), ("off", "Enabled."), ("on", "Enabled.")]


def test_run_now_button_of_the_change_form(editor: Client) -> None:
    row = make("nightly")
    page = editor.get(change_url(row)).content.decode()
    assert f'action="{CHANGELIST}{row.pk}/run/"' in page and 'id="taskq-run-now"' in page
    assert editor.get(f"{CHANGELIST}{row.pk}/run/").status_code == 405
    response = editor.post(f"{CHANGELIST}{row.pk}/run/")
    assert response.status_code == 302 and response["Location"] == change_url(row)
    assert len(queued()) == 1
    assert LogEntry.objects.get().change_message == f"Ran now: job {queued()[0]} on queue default."
    assert editor.post(f"{CHANGELIST}999/run/").status_code == 404
    assert editor.post(f"{CHANGELIST}abc/run/").status_code == 404


# --- permissions -----------------------------------------------------------------------------


def test_view_only_user_sees_no_buttons_and_cannot_act(viewer: Client) -> None:
    row = make("nightly")
    listing = viewer.get(CHANGELIST).content.decode()
    assert 'name="action"' not in listing and "addlink" not in listing
    change = viewer.get(change_url(row)).content.decode()
    assert 'id="taskq-run-now"' not in change and 'name="_save"' not in change and "deletelink" not in change
    for action in ("run_now_action", "enable_action", "disable_action"):
        post_action(viewer, action, row)
    assert viewer.post(f"{CHANGELIST}{row.pk}/run/").status_code == 403
    assert viewer.post(change_url(row), form_data(interval="5")).status_code == 403
    assert queued() == [] and not LogEntry.objects.exists()
    assert Schedule.objects.get(pk=row.pk).enabled and Schedule.objects.get(pk=row.pk).interval == 60


def test_staff_without_permission_is_refused(editor: Client) -> None:
    row = make("nightly")
    staff = client_with(username="staff")
    for url in (CHANGELIST, change_url(row), ADD_URL):
        assert staff.get(url).status_code == 403, url
    assert staff.post(f"{CHANGELIST}{row.pk}/run/").status_code == 403
    assert queued() == []


def test_admin_index_lists_schedules_in_the_queues_section(viewer: Client) -> None:
    page = viewer.get("/admin/").content.decode()
    assert "Queues" in page and 'href="/admin/django_taskq/schedule/"' in page
