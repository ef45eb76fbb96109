"""Django's own contract tests of the tasks framework (tests/tasks of Django 6.1), vendored so
that tests/test_tasks_contract.py can run them against RQBackend. Module names leave out the
``test_`` prefix: pytest collects them only through the subclasses in that module."""
