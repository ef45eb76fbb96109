"""Settings for rqcron subprocesses that run Schedule rows: the test process's PostgreSQL test database.

The runners are other processes, so they need a database the test process writes to and they
read: the ``pg`` alias's test database, named by ``TASKQ_TEST_SCHEDULE_DB``.
"""

from __future__ import annotations

import os

from tests.cron_settings import *  # noqa: F403
from tests.settings import DATABASES as _BASE_DATABASES

DATABASES = {
    "default": {**_BASE_DATABASES["pg"], "NAME": os.environ["TASKQ_TEST_SCHEDULE_DB"], "TEST": {}},
}
