"""Service settings: one frozen, validated object read from ``SPM_*`` environment variables.

People, teams and (later) targets live in the YAML file named by ``SPM_CONFIG``
(see ``spm_stream.config.directory``). Secrets are ``SecretStr`` and never logged;
``Settings.redacted()`` is what start-up logs show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from spm_stream.access import is_loopback

__all__ = ["ConfigError", "Settings", "load_settings", "redact_url"]

ENV_PREFIX = "SPM_"


class ConfigError(ValueError):
    """A setting or config file value is wrong; the message names the key."""


class Settings(BaseSettings):
    """Everything the worker, the CLI and the demo need to know, validated at start-up."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    kafka_url: str | None = Field(
        default=None,
        description="Kafka bootstrap servers, e.g. kafka://127.0.0.1:9092 (comma-separated for "
        "several). Unset: `spm-stream demo` and the tests start an embedded broker.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL, e.g. redis://127.0.0.1:6379/0. Unset: embedded."
    )
    slack_token: SecretStr | None = Field(default=None, description="Slack bot token (xoxb-…).")
    slack_base_url: str = Field(
        default="https://slack.com/api/",
        description="Slack Web API base URL; point it at `spm-stream slack-server` for tests.",
    )
    config: Path | None = Field(default=None, description="YAML file with people and teams.")
    targets: Path | None = Field(
        default=None, description="YAML file of targets and quotas (re-read when it changes)."
    )

    app_id: str = Field(default="spm-stream", description="Faust app id = Kafka consumer group.")
    topic: str = Field(default="crm-events", description="Input topic of canonical CRM events.")
    dlq_topic: str = Field(default="crm-events-dlq", description="Dead-letter topic for rejects.")
    alerts_topic: str = Field(
        default="spm-alerts", description="Topic between the rules and the notifier."
    )
    partitions: int = Field(default=4, ge=1, le=1024, description="Partitions of the input topic.")
    replication_factor: int = Field(default=1, ge=1, le=16)
    redis_prefix: str = Field(
        default="spm", pattern=r"^[A-Za-z0-9_.-]+$", description="Prefix of every Redis key."
    )
    batch_size: int = Field(default=1000, ge=1, le=100_000, description="Max events per batch.")
    batch_window_ms: int = Field(
        default=100, ge=1, le=60_000, description="Max wait to fill a batch."
    )
    retention_days: int = Field(
        default=400, ge=1, le=3660, description="TTL of daily counters (a year plus a month)."
    )
    dedupe_days: int = Field(
        default=7, ge=1, le=3660, description="How long an event_id is remembered for dedupe."
    )
    leaderboard_interval_s: float = Field(
        default=15.0,
        ge=0,
        description="How often the leader worker refreshes live Slack leaderboards (0 disables).",
    )
    rules_interval_s: float = Field(
        default=15.0,
        ge=0,
        description="How often the leader evaluates timers: no-show watches, pace, nudges, "
        "digests (0 disables the rules timer).",
    )
    notify_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="How often the leader delivers due notifications."
    )
    templates_dir: Path | None = Field(
        default=None, description="Directory whose templates override the shipped ones."
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        description="The Slack app's signing secret: verifies /slack/commands, /slack/events "
        "and /slack/interactions.",
    )
    slack_app_token: SecretStr | None = Field(
        default=None,
        description="An app-level token (xapp-…, scope connections:write): the worker "
        "takes Slack's requests over Socket Mode instead of the /slack/ request URLs.",
    )
    home_refresh_s: float = Field(
        default=60.0,
        ge=0,
        description="How often the leader republishes App Home tabs whose numbers changed "
        "(each at most once a minute; 0 disables).",
    )
    webhook_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of POST /webhooks/events (canonical events); unset disables it.",
    )
    hubspot_client_secret: SecretStr | None = Field(
        default=None,
        description="HubSpot app's client secret: verifies the v3 signature at /webhooks/hubspot.",
    )
    close_signature_key: SecretStr | None = Field(
        default=None,
        description="Close webhook subscription's signature_key (hex) for /webhooks/close.",
    )
    pipedrive_basic_auth: SecretStr | None = Field(
        default=None,
        description="USER:PASSWORD of the Pipedrive webhook's HTTP auth (/webhooks/pipedrive).",
    )
    salesforce_token: SecretStr | None = Field(
        default=None,
        description="Shared secret in the outbound message URL (/webhooks/salesforce?token=…).",
    )
    public_url: str | None = Field(
        default=None,
        description="The URL the CRMs call this service at (e.g. https://spm.example.com), "
        "when a proxy sits in front: HubSpot signs the URL it called.",
    )
    webhook_max_bytes: int = Field(
        default=1_048_576, ge=1024, le=64 * 1_048_576, description="Larger bodies get HTTP 413."
    )
    webhook_read_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How long a webhook body may take to arrive (after its credential was "
        "checked) before HTTP 408; slow senders cannot hold memory.",
    )
    webhook_tolerance_s: float = Field(
        default=300.0, gt=0, le=86_400, description="Oldest signature timestamp accepted."
    )
    webhook_ack_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How long a webhook waits for Kafka's ack before answering 503 (the CRM "
        "retries; event ids are stable, so nothing counts twice).",
    )
    kafka_session_timeout_s: float = Field(default=10.0, gt=1, le=300)
    kafka_fetch_max_wait_ms: int = Field(
        default=100,
        ge=1,
        le=30_000,
        description="How long the broker may hold a fetch that found nothing new; also the "
        "longest an input partition can wait behind a fetch of idle ones (agents/faust_compat.py).",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of the read API (/kpis, /leaderboard, /stats, /tv); also "
        "the key of signed TV links. Required unless SPM_WEB_HOST is a loopback address.",
    )
    allowed_hosts: str | None = Field(
        default=None,
        description="Comma-separated Host names the web server answers to (against DNS "
        "rebinding); unset: loopback names on a loopback bind, the public URL's host, else any.",
    )
    tv_max_streams: int = Field(
        default=32, ge=1, le=10_000, description="Open /tv/stream connections one worker serves."
    )
    web_host: str = Field(default="127.0.0.1", description="Bind address of health and API.")
    web_port: int = Field(default=6066, ge=0, le=65535)
    data_dir: Path = Field(default=Path(".spm-data"), description="Faust's local data dir.")
    ingest_process: bool = Field(
        default=True,
        description="Validate, plan and apply batches in a child process, so the worker's "
        "Faust loop and our work use two cores; false runs them in the worker's own loop "
        "(one-core containers).",
    )
    rules_process: bool = Field(
        default=True,
        description="Evaluate the leader's rules timer in a child process, so a long tick "
        "(thousands of watches, badges) never delays the stream; false runs it in the "
        "worker's own loop (one-core containers).",
    )
    catchup_lag: int = Field(
        default=100_000,
        ge=0,
        description="A partition assigned to a worker this many events behind the log is "
        "caught up in bulk (agents/bulk.py, several times faster than the live agent) before "
        "the live agent takes it; 0 turns automatic catch-up off.",
    )
    catchup_processes: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Processes of an automatic catch-up, each owning whole partitions; "
        "0: one per core.",
    )
    catchup_max_s: float = Field(
        default=900.0,
        gt=0,
        le=3600,
        description="Longest catch-up round: the worker fetches nothing meanwhile, so "
        "Kafka's max poll interval (set above it) must not expire; what is left after a "
        "round is processed live.",
    )
    faust_event_stats: bool = Field(
        default=False,
        description="Keep Faust's per-event monitor statistics; off by default: they cost "
        "about 15 % of throughput and nothing of spm-stream reads them (see BENCHMARKS.md).",
    )
    log_level: Literal["debug", "info", "warn", "error"] = "info"
    log_format: Literal["text", "json"] = "text"

    @field_validator("kafka_url")
    @classmethod
    def _kafka_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        hosts = [h.strip().removeprefix("kafka://") for h in value.split(",") if h.strip()]
        for host in hosts:
            name, _, port = host.rpartition(":")
            if not name or not port.isdigit():
                raise ValueError(f"expected host:port, got {host!r}")
        return ",".join(hosts)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("close_signature_key")
    @classmethod
    def _hex_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                bytes.fromhex(value.get_secret_value())
            except ValueError:
                raise ValueError("must be the hex signature_key Close returned") from None
        return value

    @field_validator("pipedrive_basic_auth")
    @classmethod
    def _user_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and ":" not in value.get_secret_value():
            raise ValueError("expected USER:PASSWORD")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError(
                "an app-level token starts with xapp- (Basic Information, App-Level Tokens)"
            )
        return value

    @field_validator("slack_base_url")
    @classmethod
    def _slack_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @property
    def bootstrap_servers(self) -> list[str]:
        """Kafka hosts as kafka-python and aiokafka want them."""
        if self.kafka_url is None:
            raise ConfigError(
                f"{ENV_PREFIX}KAFKA_URL is not set: point it at a Kafka broker "
                "(or run `spm-stream demo`, which starts an embedded one)"
            )
        return self.kafka_url.split(",")

    @property
    def host_names(self) -> list[str]:
        """SPM_ALLOWED_HOSTS as a list."""
        return [h.strip() for h in (self.allowed_hosts or "").split(",") if h.strip()]

    def check_exposure(self) -> None:
        """Refuse to serve reps' numbers without a token to anything beyond this machine."""
        if self.api_token is None and not is_loopback(self.web_host):
            raise ConfigError(
                f"{ENV_PREFIX}API_TOKEN is not set, but {ENV_PREFIX}WEB_HOST={self.web_host} is "
                "reachable from other machines: set a token (e.g. `openssl rand -hex 32`) or "
                "bind to 127.0.0.1"
            )

    def require_redis(self) -> str:
        """The Redis URL, or a ConfigError saying which variable to set."""
        if self.redis_url is None:
            raise ConfigError(f"{ENV_PREFIX}REDIS_URL is not set: point it at a Redis server")
        return self.redis_url

    def as_env(self) -> dict[str, str]:
        """These settings as SPM_* variables, secrets included: for child processes only."""
        env = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, bool):
                value = "true" if value else "false"
            env[f"{ENV_PREFIX}{name.upper()}"] = str(value)
        return env

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict safe for logs: secrets and passwords in URLs as '***'."""
        out = self.model_dump(mode="json")
        for name, value in out.items():
            if isinstance(getattr(self, name), SecretStr) and value is not None:
                out[name] = "***"
            elif isinstance(value, str) and "://" in value:
                out[name] = redact_url(value)
        return out


def redact_url(url: str) -> str:
    """A URL with the password of its user part as '***' (redis://:pw@host -> redis://:***@host)."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}:***@{host}" if colon else url


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; raise ConfigError naming the bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = [
            f"{ENV_PREFIX}{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
        raise ConfigError("invalid settings: " + "; ".join(problems)) from None
