from collections.abc import Iterator

import pytest

from plantguard.detection import registry
from tests.api.conftest import env, sqlite_env  # noqa: F401  (shared fixtures)
from tests.detection.rules.helpers import VectorSum


@pytest.fixture(autouse=True)
def vector_detector(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A test vector detector, registered for these tests only (the shared check suite of
    tests/detection/test_checks.py walks every registered detector)."""
    monkeypatch.setitem(registry.available(), VectorSum.name, VectorSum)
    yield
