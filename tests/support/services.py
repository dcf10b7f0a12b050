"""Real RabbitMQ and PostgreSQL for tests: the env URL first, then the local service, then
testcontainers when a Docker engine answers. Under CI a missing service fails the test run."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

#: Where the machine's own services listen when no URL is given.
LOCAL_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def missing(what: str) -> None:
    message = f"{what} is not reachable"
    if os.environ.get("CI"):
        pytest.fail(message + " and CI is set: integration tests must run against the real thing")
    pytest.skip(message)


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=1):
            return True
    except OSError:
        return False


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def rabbitmq() -> Iterator[tuple[str, object | None]]:
    """(amqp URL, container or None)."""
    url = os.environ.get("CHATPAY_TEST_BROKER_URL") or LOCAL_RABBITMQ
    if reachable(url):
        yield url, None
        return
    if _docker_answers():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.13") as container:
            host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
            yield f"amqp://guest:guest@{host}:{port}/", container
        return
    missing("RabbitMQ")


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A server URL (maintenance database)."""
    url = os.environ.get("CHATPAY_TEST_DATABASE_URL") or LOCAL_POSTGRES
    parts = urlsplit(url)
    if reachable(urlunsplit(parts._replace(netloc=f"{parts.hostname}:{parts.port or 5432}"))):
        yield url
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver=None) as container:
            yield container.get_connection_url()
        return
    missing("PostgreSQL")


def fresh_postgres_database(server_url: str) -> str:
    """Create an empty database on the server; its URL."""
    import psycopg

    name = "chatpay_test_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(server_url)._replace(path="/" + name))


def drop_postgres_database(server_url: str, db_url: str) -> None:
    import psycopg

    name = urlsplit(db_url).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_vhost(broker_url: str, container: object | None) -> str:
    """A new RabbitMQ virtual host (so deployments never share queues); its URL."""
    name = "chatpay-test-" + uuid.uuid4().hex[:10]
    commands = [
        ["rabbitmqctl", "add_vhost", name],
        ["rabbitmqctl", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
    ]
    for cmd in commands:
        if container is not None:
            container.exec(cmd)  # type: ignore[attr-defined]
        else:
            subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return urlunsplit(urlsplit(broker_url)._replace(path="/" + name))


def delete_vhost(name_url: str, container: object | None) -> None:
    name = urlsplit(name_url).path.lstrip("/")
    cmd = ["rabbitmqctl", "delete_vhost", name]
    if container is not None:
        container.exec(cmd)  # type: ignore[attr-defined]
    else:
        subprocess.run(cmd, capture_output=True, timeout=60)
