"""Property-based run over the OpenAPI spec: no input makes the API answer 5xx, and every
422 names its fields with messages in the caller's language.

The app runs in-process (ASGI) on a fresh SQLite database with two enterprises; every
generated call carries an admin bearer token of enterprise E1, so the writes get past the
role check and reach validation, the services and the database. PostgreSQL-only failure
modes (NUL characters, column lengths, BIGINT range) have explicit regression tests in
``tests/api/test_bad_input.py``, which run on both backends.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy import select

from plantguard.api.app import create_app
from plantguard.api.runtime import Runtime
from plantguard.core.db import make_engine, make_session_factory
from plantguard.core.settings import Settings
from plantguard.tenancy import auth
from plantguard.tenancy.models import User
from tests.conftest import Db
from tests.factories import make_tenant

CJK = re.compile(r"[\u4e00-\u9fff]")
REVOKE = "/api/v1/auth/revoke"

RUN = settings(
    max_examples=10,  # per operation, alternating en and zh-CN (~250 operations)
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


_APP: list[Any] = []


class Api:
    """The app under test and the way to mint bearer tokens for it without a password round trip."""

    def __init__(self, db: Db) -> None:
        self.db = db  # holds enterprises E1 and E2 (``two_tenants``)
        settings_ = Settings(database_url=db.url, bus_url="inprocess://")
        runtime = Runtime(settings_, db.engine, db.factory, db.read_factory)
        # One app object for every item (building one costs about a second of CPU, more than
        # most items): each item gets a new runtime on its fresh database, and the lifespan is
        # shut down after each item, so the next call starts it again on that runtime.
        # No outbox relay: it is not under test, and the lifespan outlives the request that starts it.
        if not _APP:
            _APP.append(create_app(settings_, runtime=runtime, start_relay=False))
        self.app = _APP[0]
        self.app.state.runtime = runtime
        self.admin_token = self.token("e1-admin")
        self.calls = 0

    def token(self, username: str) -> str:
        with self.db.factory() as s:
            user = s.scalars(select(User).where(User.username == username)).one()
            issued = auth.issue(s, user, "api", timedelta(hours=1))
            s.commit()
            return issued.token

    def headers(self, case: schemathesis.Case, lang: str) -> dict[str, str]:
        # Revoking the shared token would turn the rest of the run into 401s: revoke a throwaway one.
        token = self.token("e1-admin") if case.operation.path == REVOKE else self.admin_token
        return {"Authorization": f"Bearer {token}", "Accept-Language": lang}


@pytest.fixture(scope="module")
def two_tenants(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    """The migrated database with enterprises E1 and E2, made once: every item gets a copy."""
    path = tmp_path_factory.mktemp("schemathesis") / "two-tenants.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    factory = make_session_factory(engine)
    make_tenant(factory, "E1")
    make_tenant(factory, "E2")
    engine.dispose()
    return path


@pytest.fixture
def api(tmp_path: Path, two_tenants: Path) -> Iterator[Api]:
    path = tmp_path / "plantguard.db"
    shutil.copy(two_tenants, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    yield Api(Db("sqlite", url, engine, make_session_factory(engine), make_session_factory(engine, read_only=True)))
    shutdown_lifespans()  # stop the app (bus) before its database goes away
    engine.dispose()


def _spec() -> dict[str, Any]:
    # The spec does not depend on the data: read it from an app that never connects, so that
    # the operations are known at collection time (one test item per operation) and every item
    # gets its own freshly seeded database through the ``api`` fixture.
    offline = Settings(database_url="sqlite://", bus_url="inprocess://")
    return create_app(offline, start_relay=False).openapi()


schema = schemathesis.openapi.from_dict(_spec())


def _errors_of_422(response: schemathesis.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422
    try:
        body = response.json()
    except ValueError as exc:
        raise AssertionError(f"422 without a JSON body: {response.text[:200]!r}") from exc
    errors = body.get("errors") if isinstance(body, dict) else None
    assert isinstance(errors, list) and errors, f"422 without a non-empty `errors` list: {body!r}"
    for err in errors:
        assert isinstance(err, dict), f"error item is not an object: {err!r}"
        for key in ("field", "message"):
            value = err.get(key)
            assert isinstance(value, str) and value.strip(), f"error item without `{key}`: {err!r}"
    return errors


def field_level_422(ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every 422 answers a JSON body whose ``errors`` items each name a field and say what is wrong.

    English was asked for, so no message is in Chinese (the values echoed in messages are codes,
    which are ASCII)."""
    if response.status_code != 422:
        return None
    for err in _errors_of_422(response):
        assert not CJK.search(err["message"]), f"English was asked for: {err!r}"
    return True


def field_level_422_in_chinese(
    ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    if response.status_code != 422:
        return None
    for err in _errors_of_422(response):
        assert CJK.search(err["message"]), f"zh-CN was asked for, the message is not Chinese: {err!r}"
    return True


@RUN
@schema.parametrize()
def test_no_input_answers_5xx(case: schemathesis.Case, api: Api) -> None:
    """Every generated call: no 5xx, and every 422 names its fields in the asked language.

    The calls of an operation alternate between English and Chinese (one run serves both
    checks: a separate Chinese run over the same operations doubled the suite's longest test)."""
    api.calls += 1
    if api.calls % 2:
        response = case.call(app=api.app, headers=api.headers(case, "en"))
        case.validate_response(response, checks=[not_a_server_error, field_level_422])
    else:
        response = case.call(app=api.app, headers=api.headers(case, "zh-CN,zh;q=0.9"))
        case.validate_response(response, checks=[not_a_server_error, field_level_422_in_chinese])
