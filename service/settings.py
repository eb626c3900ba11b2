"""The service's settings: read once from the environment, refusing unsafe values.

Prefix ``DROPOUT_RISK_``; ``DATABASE_URL`` and ``MLFLOW_TRACKING_URI`` are read as they are
spelled by convention. API tokens are configured only as SHA-256 hashes, in the tokens file
that ``dropout-risk token create`` writes and/or in ``DROPOUT_RISK_API_TOKENS`` (the same
JSON list); a value that is not a hash is refused rather than silently accepted.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from models.registry_store import CHAMPION, RegistryLocation
from service.security import TokenEntry


class ServiceSettings(RegistryLocation):
    """Everything the service reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="DROPOUT_RISK_", env_ignore_empty=True, populate_by_name=True
    )

    model_alias: str = Field(default=CHAMPION, min_length=1)
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "database_url")
    )
    tokens_file: Path | None = Field(
        default=None, description="JSON list of token hashes; default <data_dir>/tokens.json."
    )
    api_tokens: list[TokenEntry] = Field(
        default_factory=list, description="More token hashes, as a JSON list."
    )
    #: Seconds between checks of where the model alias points.
    registry_poll_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)
    #: Threads per worker process running the (CPU-bound) scoring endpoints; more only
    #: contend for the interpreter lock.
    threads: int = Field(default=1, ge=1, le=64)
    #: Factors listed per outcome in an assessment.
    factors: int = Field(default=5, ge=0, le=20)
    #: Clients per batch request.
    max_batch: int = Field(default=500, ge=1, le=5000)
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")

    @field_validator("database_url")
    @classmethod
    def _durable_database(cls, url: str | None) -> str | None:
        if url is None:
            return url
        try:
            parsed = make_url(url)
        except ArgumentError as error:
            raise ValueError(f"not a database URL: {error}") from error
        if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
            raise ValueError("an in-memory SQLite audit store would lose every record on restart")
        return url

    @property
    def audit_url(self) -> str:
        """The audit database in force: ``DATABASE_URL``, else SQLite under the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'audit.db').resolve()}"

    @property
    def token_path(self) -> Path:
        """The tokens file in force."""
        return self.tokens_file or self.data_dir / "tokens.json"

    def token_entries(self) -> list[TokenEntry]:
        """The configured tokens: those of the tokens file (if it exists), then the variable's.

        Raises:
            ValueError: The tokens file is not a JSON list of valid entries.
        """
        return read_tokens_file(self.token_path) + list(self.api_tokens)


def read_tokens_file(path: Path) -> list[TokenEntry]:
    """The entries of a tokens file; an absent file holds none.

    Raises:
        ValueError: The file is not a JSON list of entries (named, hashed, scoped).
    """
    if not path.exists():
        return []
    try:
        document = json.loads(path.read_text())
        if not isinstance(document, list):
            raise ValueError("expected a JSON list")
        return [TokenEntry.model_validate(entry) for entry in document]
    except (ValueError, ValidationError) as error:
        raise ValueError(f"tokens file {path} is not valid: {error}") from error


def write_tokens_file(path: Path, entries: list[TokenEntry]) -> None:
    """Replace the tokens file with ``entries``, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps([e.model_dump(mode="json") for e in entries], indent=2) + "\n")
    scratch.chmod(0o600)
    scratch.replace(path)
