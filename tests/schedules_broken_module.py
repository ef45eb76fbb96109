"""A module whose import fails with something other than ImportError (tests/test_schedules_admin.py)."""

raise RuntimeError("broken on import")
