"""Settings, read once from ``CHATPAY_*`` environment variables (API.md §11)."""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from chatpay.errors import ConfigError

#: Seconds a request waits for the customer when the agent gives no ``expires_in``.
DEFAULT_REQUEST_TTL = 1800
#: Seconds the sealed card stays viewable after submission.
DEFAULT_CARD_VIEW_WINDOW = 3600
#: Largest amount, in minor units, a request may ask for.
DEFAULT_MAX_AMOUNT = 10_000_000
#: Outbound chat delivery attempts before TRY AGAIN.
DEFAULT_DELIVERY_ATTEMPTS = 6
#: Seconds within which every delivery attempt must happen.
DEFAULT_DELIVERY_DEADLINE = 120.0
#: Where ``chatpay up`` keeps its SQLite file, secrets and vault keys.
DEFAULT_DATA_DIR = ".chatpay"

_SECRETS = ("CHATPAY_CHAT_INBOUND_SECRET", "CHATPAY_CHAT_OUTBOUND_SECRET", "CHATPAY_AGENT_JWT_SECRET")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    broker_url: str | None
    database_url: str
    public_url: str
    chat_webhook_url: str | None
    chat_inbound_secret: str
    chat_outbound_secret: str
    agent_jwt_secret: str
    vault_public_key: str | None
    vault_private_key: str | None
    request_ttl: int = DEFAULT_REQUEST_TTL
    card_view_window: int = DEFAULT_CARD_VIEW_WINDOW
    max_amount: int = DEFAULT_MAX_AMOUNT
    delivery_attempts: int = DEFAULT_DELIVERY_ATTEMPTS
    delivery_deadline: float = DEFAULT_DELIVERY_DEADLINE
    #: First retry backoff in seconds; doubles per attempt, capped by the deadline.
    delivery_backoff: float = 1.0
    #: Seconds between expiry sweeps.
    sweep_interval: float = 0.5
    #: ``classic`` or ``quorum`` (RabbitMQ clusters).
    queue_type: str = "classic"
    merchant_name: str = "chatpay"
    #: Submit attempts a pay link accepts per hour before 429.
    submit_limit: int = 10
    #: True under ``chatpay up`` on its embedded default: demo pages and token minting are served.
    demo: bool = False

    @property
    def embedded(self) -> bool:
        """No broker URL: the in-process broker (``chatpay up`` only)."""
        return not self.broker_url


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value


def load(env: Mapping[str, str] | None = None, *, require_secrets: bool = True) -> Settings:
    """Read settings from ``env`` (default ``os.environ``)."""
    env = os.environ if env is None else env
    missing = [name for name in _SECRETS if not env.get(name)]
    if missing and require_secrets:
        raise ConfigError("missing required settings: " + ", ".join(missing))
    queue_type = env.get("CHATPAY_QUEUE_TYPE", "classic")
    if queue_type not in ("classic", "quorum"):
        raise ConfigError("CHATPAY_QUEUE_TYPE must be classic or quorum")
    return Settings(
        broker_url=env.get("CHATPAY_BROKER_URL") or None,
        database_url=env.get("CHATPAY_DATABASE_URL") or "sqlite:///./chatpay.db",
        public_url=(env.get("CHATPAY_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
        chat_webhook_url=env.get("CHATPAY_CHAT_WEBHOOK_URL") or None,
        chat_inbound_secret=env.get("CHATPAY_CHAT_INBOUND_SECRET", ""),
        chat_outbound_secret=env.get("CHATPAY_CHAT_OUTBOUND_SECRET", ""),
        agent_jwt_secret=env.get("CHATPAY_AGENT_JWT_SECRET", ""),
        vault_public_key=env.get("CHATPAY_VAULT_PUBLIC_KEY") or None,
        vault_private_key=env.get("CHATPAY_VAULT_PRIVATE_KEY") or None,
        request_ttl=_int(env, "CHATPAY_REQUEST_TTL", DEFAULT_REQUEST_TTL, 10, 86400),
        card_view_window=_int(env, "CHATPAY_CARD_VIEW_WINDOW", DEFAULT_CARD_VIEW_WINDOW, 1, 86400),
        max_amount=_int(env, "CHATPAY_MAX_AMOUNT", DEFAULT_MAX_AMOUNT, 1, 10**15),
        delivery_attempts=_int(env, "CHATPAY_DELIVERY_ATTEMPTS", DEFAULT_DELIVERY_ATTEMPTS, 1, 20),
        delivery_deadline=_float(env, "CHATPAY_DELIVERY_DEADLINE", DEFAULT_DELIVERY_DEADLINE),
        delivery_backoff=_float(env, "CHATPAY_DELIVERY_BACKOFF", 1.0),
        sweep_interval=_float(env, "CHATPAY_SWEEP_INTERVAL", 0.5),
        queue_type=queue_type,
        merchant_name=env.get("CHATPAY_MERCHANT_NAME") or "chatpay",
        submit_limit=_int(env, "CHATPAY_SUBMIT_LIMIT", 10, 1, 10_000),
    )


def embedded_environment(data_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of ``chatpay up``: missing secrets and vault keys generated into ``data_dir``.

    Secrets are kept (mode 0600) so a restart keeps tokens, links and sealed cards valid.
    """
    from chatpay import sealing

    env = dict(os.environ if env is None else env)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in _SECRETS:
        if env.get(name):
            continue
        path = data_dir / name.lower()
        if not path.exists():
            prefix = "whsec_" if "CHAT" in name else ""
            value = prefix + (secrets.token_urlsafe(32) if not prefix else _whsec_body())
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(value)
        env[name] = path.read_text().strip()
    if not env.get("CHATPAY_VAULT_PUBLIC_KEY"):
        private, public = data_dir / "vault.key", data_dir / "vault.pub"
        if not private.exists():
            sealing.generate_vault_keys(data_dir)
        env["CHATPAY_VAULT_PUBLIC_KEY"] = str(public)
        env.setdefault("CHATPAY_VAULT_PRIVATE_KEY", str(private))
    env.setdefault("CHATPAY_DATABASE_URL", f"sqlite:///{data_dir / 'chatpay.db'}")
    return env


def _whsec_body() -> str:
    import base64

    return base64.b64encode(secrets.token_bytes(32)).decode()
