"""Settings: the only reader of the environment. Read once, typed, documented in README.md."""

from __future__ import annotations

import math
import zlib
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "ptr-trial-development-secret-change-me-0000"
MIN_SECRET_LENGTH = 32
MIN_SECRET_ENTROPY_BITS = 128


def estimated_entropy_bits(secret: str) -> float:
    """A simple, deliberately conservative estimate of a secret's strength, in bits: the smaller of
    (a) its length times the Shannon entropy of its own character frequencies and (b) 8 times its
    size compressed with raw DEFLATE. (a) scores "a" * 32 at 0 and "abab..." at 1 bit per
    character; (b) catches repeated blocks that (a) misses ("0123456789" * 4). 32 random bytes
    as base64 or hex score well above 128 bits; a 32-character hex string (16 bytes) scores about
    120: the measure underestimates short random secrets and never credits a repetitive one."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    shannon = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values()) * len(secret)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressed = deflate.compress(secret.encode()) + deflate.flush()
    return min(shannon, 8.0 * len(compressed))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PTR_", extra="ignore", populate_by_name=True)

    environment: Literal["development", "production"] = "development"
    # Unset: an embedded SQLite file under data_dir, migrated at start-up.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    data_dir: Path = Path("var")
    # Tokens: HS256 with a shared secret, or RS256 keys from an identity provider's JWKS URL.
    jwt_secret: str = DEVELOPMENT_SECRET
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    dev_token_ttl_minutes: int = 12 * 60
    # Any accepted token lives at most this long: `exp - iat`, or `exp - now` without `iat`.
    jwt_max_lifetime_minutes: int = Field(default=24 * 60, ge=1, le=31 * 24 * 60)
    cors_origins: list[str] = Field(default_factory=list)
    # None: on in development, off in production.
    graphiql: bool | None = None
    introspection: bool | None = None
    max_page_size: int = Field(default=100, ge=1, le=1000)
    default_page_size: int = Field(default=50, ge=1, le=1000)
    max_query_depth: int = Field(default=12, ge=2)
    # Query limits (README "Query limits"; server/schema/execution/limits.py): the cost allowed per request
    # by role (staff: coordinators, investigators, monitors; analyst: analysts and admins), how
    # often one field may be repeated in a selection set, the largest response and the time a
    # query may run.
    max_query_cost_patient: int = Field(default=5_000, ge=1)
    max_query_cost_staff: int = Field(default=100_000, ge=1)
    max_query_cost_analyst: int = Field(default=300_000, ge=1)
    max_field_repeats: int = Field(default=50, ge=1)
    max_response_bytes: int = Field(default=10_000_000, ge=1_000)
    request_timeout_seconds: float = Field(default=15.0, gt=0)
    # Persisted documents (README "Persisted queries and trusted documents";
    # server/persisted_documents.py). On: only the trusted manifest's documents run (by hash or by
    # their exact text); off: any document, and Apollo's automatic persisted queries register new
    # ones (at most persisted_queries_max per process). The manifest defaults to
    # clients/trusted-documents.json of this checkout.
    trusted_documents_only: bool = False
    trusted_documents_file: Path | None = None
    persisted_queries_max: int = Field(default=5_000, ge=0)
    # Plain reads answered by one SQL statement on PostgreSQL (server/schema/execution/planner.py); off:
    # every query through the stock executor (same answers, slower). PTR_PLANNED_READS.
    planned_reads: bool = True
    log_level: str = "INFO"
    # The patients' diary app (static files served at /diary); unset: clients/diary of this checkout.
    diary_dir: Path | None = None
    # Patients' phones (README "Onboarding patients' phones"). Required, https://, in production.
    public_base_url: str = "http://127.0.0.1:8000"
    # Addresses whose X-Forwarded-For / X-Forwarded-Proto uvicorn believes (the reverse proxy's):
    # the client IP the rate limits see. Comma-separated; "*" only if nothing but the proxy can
    # reach the service.
    forwarded_allow_ips: str = "127.0.0.1"
    device_access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Rate limits, in the `limits` library's notation ("10/minute"). Memory by default (one
    # process); with PTR_REDIS_URL shared by every worker.
    redis_url: str | None = None
    activation_rate_limit_per_ip: str = "10/minute"
    activation_rate_limit_per_code: str = "5/15 minutes"
    refresh_rate_limit_per_ip: str = "30/minute"
    # Operations (README "Running in production"). General limits of /graphql; "" turns one off.
    graphql_rate_limit_per_ip: str = "600/minute"
    graphql_rate_limit_per_subject: str = "300/minute"
    # Requests refused for a missing or bad token, per IP; past it every request of that IP is refused.
    auth_failure_rate_limit_per_ip: str = "20/minute"
    rate_limit_key_prefix: str = "ptr-trial-limits"
    log_format: Literal["json", "text"] = "json"
    # A static secret for scraping /metrics; unset: /metrics is open in development, absent in production.
    metrics_token: str | None = Field(default=None, min_length=16)
    # prometheus-client's multiprocess directory (read by prometheus-client itself, too).
    prometheus_multiproc_dir: Path | None = Field(default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR")
    # uvicorn's HTTP limits (cli._serve) and the request-body timeout (server/httplimits.py).
    http_max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    http_keep_alive_seconds: int = Field(default=5, ge=1)
    http_body_timeout_seconds: float = Field(default=30, gt=0)
    http_limit_concurrency: int | None = Field(default=None, ge=1)
    http_backlog: int = Field(default=2048, ge=1)
    http_graceful_shutdown_seconds: int = Field(default=30, ge=1)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str | None) -> str | None:
        """Accept the usual postgres:// and postgresql:// spellings; the service speaks asyncpg."""
        if not url:
            return None
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        return url

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, url: str) -> str:
        return url.rstrip("/")

    @field_validator("activation_rate_limit_per_ip", "activation_rate_limit_per_code", "refresh_rate_limit_per_ip")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse

        parse(value)  # raises ValueError on a malformed limit
        return value

    @field_validator("graphql_rate_limit_per_ip", "graphql_rate_limit_per_subject", "auth_failure_rate_limit_per_ip")
    @classmethod
    def _optional_rate_limit(cls, value: str) -> str:
        from limits import parse

        if value.strip():
            parse(value)
        return value.strip()

    @model_validator(mode="after")
    def _production_is_locked_down(self) -> Settings:
        if self.is_production and not self.jwt_jwks_url and self.jwt_secret == DEVELOPMENT_SECRET:
            raise ValueError("production refuses the development token secret: set PTR_JWT_SECRET or PTR_JWT_JWKS_URL")
        # In JWKS mode a secret other than the development one still signs device tokens.
        if self.is_production and self.jwt_secret != DEVELOPMENT_SECRET:
            if len(self.jwt_secret) < MIN_SECRET_LENGTH:
                raise ValueError("PTR_JWT_SECRET must be at least 32 characters in production")
            if estimated_entropy_bits(self.jwt_secret) < MIN_SECRET_ENTROPY_BITS:
                raise ValueError(
                    "PTR_JWT_SECRET is too predictable for production (estimated entropy below 128 bits): "
                    "use e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
                )
        if max(self.dev_token_ttl_minutes, self.device_access_token_minutes) > self.jwt_max_lifetime_minutes:
            raise ValueError(
                "token lifetimes (PTR_DEV_TOKEN_TTL_MINUTES, PTR_DEVICE_ACCESS_TOKEN_MINUTES) exceed PTR_JWT_MAX_LIFETIME_MINUTES"
            )
        if self.is_production and (
            "public_base_url" not in self.model_fields_set or not self.public_base_url.startswith("https://")
        ):
            raise ValueError(
                "production needs PTR_PUBLIC_BASE_URL: the https:// address patients' phones reach this service at"
                " (activation links and QR codes point there)"
            )
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.is_production

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'ptr-trial.sqlite3').resolve()}"

    @property
    def effective_diary_dir(self) -> Path:
        return self.diary_dir or Path(__file__).resolve().parent.parent / "clients" / "diary"

    @property
    def effective_trusted_documents_file(self) -> Path:
        return (
            self.trusted_documents_file or Path(__file__).resolve().parent.parent / "clients" / "trusted-documents.json"
        )

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
