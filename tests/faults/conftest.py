def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "faults: the CI-sized fault suite (real PostgreSQL, Redis, gunicorn, Celery, emulator); "
        "deselect with -m 'not faults'",
    )
