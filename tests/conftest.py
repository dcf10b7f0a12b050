"""Shared fixtures: real RabbitMQ and PostgreSQL, a signed chat sink, real chatpay processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import services
from tests.support.deployment import Deployment
from tests.support.sink import ChatSink


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[tuple[str, object | None]]:
    with services.rabbitmq() as found:
        yield found


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with services.postgres() as url:
        yield url


@pytest.fixture
def broker_url(rabbitmq: tuple[str, object | None]) -> Iterator[str]:
    """A fresh virtual host: nothing left over from another test."""
    url, container = rabbitmq
    vhost = services.fresh_vhost(url, container)
    yield vhost
    services.delete_vhost(vhost, container)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    url = services.fresh_postgres_database(postgres_server)
    yield url
    services.drop_postgres_database(postgres_server, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each integration test runs on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chatpay.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def deploy(tmp_path: Path, broker_url: str, database_url: str) -> Iterator[Callable[..., Deployment]]:
    """``deploy(sink=..., env=...)`` starts gateway + worker processes; all stopped at teardown."""
    started: list[Deployment] = []
    sinks: list[ChatSink] = []

    def start(
        *, sink: ChatSink | bool | None = True, env: dict[str, Any] | None = None, worker_threads: int = 4
    ) -> Deployment:
        deployment = Deployment(
            tmp_path / f"d{len(started)}",
            broker_url=broker_url,
            database_url=database_url,
            webhook_url=None,
            env=env,
            worker_threads=worker_threads,
        )
        if sink is True:
            chat = ChatSink(deployment.env["CHATPAY_CHAT_OUTBOUND_SECRET"])
            sinks.append(chat)
            deployment.env["CHATPAY_CHAT_WEBHOOK_URL"] = chat.url
            deployment.sink = chat
        started.append(deployment)
        return deployment.start()

    yield start
    for deployment in started:
        deployment.stop()
    for chat in sinks:
        chat.close()
