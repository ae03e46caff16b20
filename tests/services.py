"""Reaching the real services the tests use, and what to do when one is missing.

In CI (``CI=true``) a missing service is a failure: a green run must have exercised
PostgreSQL, NATS and the MQTT broker. On a developer's machine it is a skip that names the
service, so ``make test`` still runs everything else.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

POSTGRES_URL = os.environ.get("PLANTGUARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("PLANTGUARD_TEST_NATS_URL", "nats://127.0.0.1:4222")
MQTT_URL = os.environ.get("PLANTGUARD_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), 2):
            return True
    except OSError:
        return False


def require(service: str, url: str, default_port: int) -> None:
    if reachable(url, default_port):
        return
    message = f"{service} is not reachable at {url}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: services are required, not skipped)")
    pytest.skip(f"{message}: start {service} to run this test")


def require_postgres() -> None:
    require("PostgreSQL", POSTGRES_URL, 5432)


def require_nats() -> None:
    require("NATS", NATS_URL, 4222)


def require_mqtt() -> None:
    require("MQTT broker (Mosquitto)", MQTT_URL, 1883)
