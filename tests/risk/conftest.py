"""The API test world (two tenants, a client per role) for the risk tests."""

from tests.api.conftest import env, sqlite_env  # noqa: F401  (fixtures)
