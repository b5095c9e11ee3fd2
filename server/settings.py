"""Settings: the only reader of the environment. Read once, typed, documented in README.md."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "ptr-trial-development-secret-change-me-0000"


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
    cors_origins: list[str] = Field(default_factory=list)
    # None: on in development, off in production.
    graphiql: bool | None = None
    introspection: bool | None = None
    max_page_size: int = Field(default=100, ge=1, le=1000)
    default_page_size: int = Field(default=50, ge=1, le=1000)
    max_query_depth: int = Field(default=12, ge=2)
    # Query limits (README "Query limits"; server/schema/limits.py): the cost allowed per request
    # by role (staff: coordinators, investigators, monitors; analyst: analysts and admins), how
    # often one field may be repeated in a selection set, the largest response and the time a
    # query may run.
    max_query_cost_patient: int = Field(default=5_000, ge=1)
    max_query_cost_staff: int = Field(default=100_000, ge=1)
    max_query_cost_analyst: int = Field(default=300_000, ge=1)
    max_field_repeats: int = Field(default=50, ge=1)
    max_response_bytes: int = Field(default=10_000_000, ge=1_000)
    request_timeout_seconds: float = Field(default=15.0, gt=0)
    log_level: str = "INFO"
    # The patients' diary app (static files served at /diary); unset: clients/diary of this checkout.
    diary_dir: Path | None = None
    # Patients' phones (README "Onboarding patients' phones").
    public_base_url: str = "http://127.0.0.1:8000"
    device_access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # A refresh token presented again within this many seconds of its rotation rotates again
    # (the phone lost the answer) instead of revoking the device (services/devices.py).
    refresh_reuse_grace_seconds: int = Field(default=120, ge=0, le=3600)
    # Rate limits, in the `limits` library's notation ("10/minute"). Memory by default (one
    # process); with PTR_REDIS_URL shared by every worker.
    redis_url: str | None = None
    activation_rate_limit_per_ip: str = "10/minute"
    activation_rate_limit_per_code: str = "5/15 minutes"
    refresh_rate_limit_per_ip: str = "30/minute"

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

    @model_validator(mode="after")
    def _production_is_locked_down(self) -> Settings:
        if self.is_production and not self.jwt_jwks_url and self.jwt_secret == DEVELOPMENT_SECRET:
            raise ValueError("production refuses the development token secret: set PTR_JWT_SECRET or PTR_JWT_JWKS_URL")
        if self.is_production and not self.jwt_jwks_url and len(self.jwt_secret) < 32:
            raise ValueError("PTR_JWT_SECRET must be at least 32 characters in production")
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
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
