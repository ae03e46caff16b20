from tests.api.conftest import env, sqlite_env  # noqa: F401  (shared fixtures)
