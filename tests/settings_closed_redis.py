"""The test settings with every queue pointed at a port where no Redis listens."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import RQ_QUEUES as _QUEUES

_URL = f"redis://:not-shown-pw@127.0.0.1:{os.environ.get('TASKQ_CLOSED_PORT', '1')}/0"
RQ_QUEUES = {name: {**config, "URL": _URL, "SOCKET_TIMEOUT": 2} for name, config in _QUEUES.items()}
