"""The service's settings: read once from the environment, refusing unsafe values.

Prefix ``DROPOUT_RISK_``; ``DATABASE_URL`` and ``MLFLOW_TRACKING_URI`` are read as they are
spelled by convention. API tokens are configured only as SHA-256 hashes, in the tokens file
that ``dropout-risk token create`` writes and/or in ``DROPOUT_RISK_API_TOKENS`` (the same
JSON list); a value that is not a hash is refused rather than silently accepted.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import string
import tempfile
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from features.vocabulary import DEFAULT_FACTORS
from models.registry_store import CHAMPION, RegistryLocation
from monitoring.settings import MonitoringSettings
from service.cds.issuers import CdsIssuer, check_secure_url
from service.security import TokenEntry
from service.smart.clients import SmartClient

_REPORT_FIELDS = frozenset({"base", "assessment_id"})


#: What a safety alert shows first until the operator configures its own protocol (the
#: service warns at start while it is so).
UNCONFIGURED_SAFETY_PROTOCOL = (
    "Follow your service's risk protocol today (the operator has not configured its text: "
    "DROPOUT_RISK_SAFETY_PROTOCOL)."
)


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
    factors: int = Field(default=DEFAULT_FACTORS, ge=0, le=20)
    #: Clients per batch request.
    max_batch: int = Field(default=500, ge=1, le=5000)
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    #: Largest request body accepted; larger ones get 413 before they are read whole.
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    #: Failed authentications allowed per client address per minute before 429.
    auth_failures_per_minute: int = Field(default=30, ge=1, le=10_000)
    #: Where the last loaded model bundle is kept, so a restart can serve it while the
    #: registry is unreachable; default ``<data_dir>/model-cache``.
    model_cache_dir: Path | None = None

    #: Key of the signed links to clinician pages (>= 32 characters). Unset: a random key
    #: kept in ``<data_dir>/link-secret``, so links survive restarts and every worker agrees.
    report_link_secret: SecretStr | None = Field(default=None, min_length=32)
    #: How long a signed link (on a CDS card) stays valid.
    report_link_lifetime_seconds: int = Field(default=8 * 3600, ge=60, le=7 * 24 * 3600)
    #: Seconds a service trusts its copy of the token table: a new or revoked token takes
    #: effect on every running service within this.
    token_refresh_seconds: float = Field(default=2.0, ge=0.0, le=60.0)
    #: Single assessments arriving together are scored and committed as one batch of at
    #: most this many (service/batching.py); 1 scores each alone.
    micro_batch_max: int = Field(default=64, ge=1, le=1024)
    #: Under load only (the last batch held several requests), how long a batch may wait
    #: for as many requests as the last one held; an idle server never waits.
    micro_batch_wait_ms: float = Field(default=1.0, ge=0.0, le=50.0)
    #: Threads each worker's boosters may use for a batch's probabilities and TreeSHAP
    #: (batches of a few requests; a single request is scored on one). 1 keeps every
    #: prediction on the scoring thread. ``dropout-risk serve`` sets the worker's share of
    #: the usable cores, at most 2, with OpenMP's passive wait (docs/speed.md).
    scoring_threads: int = Field(default=1, ge=1, le=64)
    #: Once started, freeze the worker's long-lived objects out of the garbage collector's
    #: way and make full collections rarer (service/heap.py): shorter, rarer pauses.
    settle_heap: bool = True
    #: Serve a champion trained on synthetic data (``serve --allow-synthetic-model``: the
    #: demo, tests and benches); refused otherwise.
    allow_synthetic_model: bool = False
    #: Outbound calls (CDS Hooks ``fhirServer``, SMART discovery, token and key-set
    #: endpoints) to private, loopback or link-local addresses are refused unless this is
    #: true (development and tests only; api.md).
    allow_private_addresses: bool = False
    #: Erase clients whose newest record is older than this many days (with tombstones);
    #: unset: records are kept until erased.
    retention_days: int | None = Field(default=None, ge=1, le=36500)
    #: Proxies (IP addresses) whose ``X-Forwarded-For`` names the client for the failed-
    #: authentication limit; from anyone else the header is ignored.
    trusted_proxies: list[str] = Field(default_factory=list)

    # --- Monitoring (GET /v1/monitoring, and the periodic check behind /ready, /metrics) --
    #: Read from ``DROPOUT_RISK_MONITORING_*`` (the same settings ``dropout-risk monitor`` uses).
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)

    # --- CDS Hooks (docs/cds-hooks.md) --------------------------------------------------
    #: The exact external base URL record systems call (behind a proxy: the proxy's URL).
    #: EHR JWTs must name ``{public_base_url}/cds-services/...`` as their audience.
    public_base_url: str = "http://127.0.0.1:8000"
    #: Trusted EHRs, as a JSON list of {iss, jwks?, jku_allowed?, tenants?}; none by default,
    #: so every CDS Hooks call is refused until a clinic names its record system.
    cds_issuers: list[CdsIssuer] = Field(default_factory=list)
    #: A low-risk client with no clinical signal gets an ``info`` card, or no card at all.
    cds_low_risk_card: Literal["info", "none"] = "none"
    #: A moderate-risk client with no clinical signal gets an ``info`` card, or no card.
    cds_moderate_risk_card: Literal["info", "none"] = "none"
    #: Budget for fetching what prefetch lacked from the EHR's FHIR server, all pages in all.
    cds_fhir_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    #: Longest accepted life of an EHR JWT (exp - iat); its jti is remembered that long.
    cds_token_max_lifetime_seconds: int = Field(default=300, ge=30, le=3600)
    #: The clinician report page of an assessment, linked from the card.
    report_url_template: str = "{base}/reports/{assessment_id}"
    #: The service's own risk protocol (text, or a URL to it): shown first on every safety
    #: alert, in the operator's words, never replaced by the model's.
    safety_protocol: str = Field(
        default=UNCONFIGURED_SAFETY_PROTOCOL,
        min_length=1,
        max_length=4000,
    )
    #: The model card linked from the card's source; default: the service's own model card
    #: page of the version that scored, ``{public_base_url}/models/{version}/card``.
    model_card_url: str | None = None

    # --- SMART App Launch (docs/fhir.md) ----------------------------------------------
    #: Record systems that may launch the clinician pages, as a JSON list of
    #: {iss, client_id, clinics, private_key_file?}; none by default, so every launch is
    #: refused until a clinic registers its record system.
    smart_clients: list[SmartClient] = Field(default_factory=list)
    #: How long a launch may take from the EHR's redirect to our callback (its state lives
    #: this long, server-side, and is used once).
    smart_launch_seconds: int = Field(default=600, ge=30, le=3600)
    #: How long the session cookie a launch opens lasts (short: a relaunch is one click).
    smart_session_seconds: int = Field(default=3600, ge=60, le=12 * 3600)

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

    @field_validator("public_base_url")
    @classmethod
    def _exact_base_url(cls, url: str) -> str:
        url = check_secure_url(url.rstrip("/"))
        if urlsplit(url).query:
            raise ValueError("public_base_url must not carry a query")
        return url

    @field_validator("model_card_url")
    @classmethod
    def _secure_model_card_url(cls, url: str | None) -> str | None:
        return None if url is None else check_secure_url(url)

    @field_validator("cds_issuers")
    @classmethod
    def _one_entry_per_issuer(cls, issuers: list[CdsIssuer]) -> list[CdsIssuer]:
        names = [issuer.iss for issuer in issuers]
        if len(set(names)) != len(names):
            raise ValueError("cds_issuers names an issuer twice")
        return issuers

    @field_validator("smart_clients")
    @classmethod
    def _one_client_per_issuer(cls, clients: list[SmartClient]) -> list[SmartClient]:
        names = [client.iss for client in clients]
        if len(set(names)) != len(names):
            raise ValueError("smart_clients names an issuer twice")
        return clients

    @property
    def smart_redirect_uri(self) -> str:
        """Our SMART callback, as registered with every EHR (under ``public_base_url``)."""
        return f"{self.public_base_url}/smart/callback"

    @field_validator("report_url_template")
    @classmethod
    def _report_link_is_safe(cls, template: str) -> str:
        try:
            names = {
                name for _, name, _, _ in string.Formatter().parse(template) if name is not None
            }
        except ValueError as error:
            raise ValueError(f"report_url_template is not a format string: {error}") from error
        if "assessment_id" not in names or not names <= _REPORT_FIELDS:
            raise ValueError(
                "report_url_template may use only {base} and {assessment_id}, and needs the latter"
            )
        check_secure_url(report_url(template, base="https://x.invalid", assessment_id="a"))
        return template

    def report_url(self, assessment_id: str) -> str:
        """The clinician report page of an assessment."""
        return report_url(
            self.report_url_template, base=self.public_base_url, assessment_id=assessment_id
        )

    def model_card_link(self, version: str) -> str:
        """Where a CDS card's source links: the model card of ``version``."""
        return self.model_card_url or f"{self.public_base_url}/models/{version}/card"

    def link_secret(self) -> bytes:
        """The signed links' key: the configured one, else the data dir's (made if missing)."""
        if self.report_link_secret is not None:
            return self.report_link_secret.get_secret_value().encode()
        path = self.data_dir / "link-secret"
        if not path.exists():
            _create_once(path, secrets.token_urlsafe(48))
        return path.read_text().strip().encode()

    @property
    def audit_url(self) -> str:
        """The audit database in force: ``DATABASE_URL``, else SQLite under the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'audit.db').resolve()}"

    @property
    def model_cache_path(self) -> Path:
        """The model cache in force: ``model_cache_dir``, else ``<data_dir>/model-cache``."""
        return self.model_cache_dir or self.data_dir / "model-cache"

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


def report_url(template: str, *, base: str, assessment_id: str) -> str:
    """``template`` with its fields filled in (see ``report_url_template``)."""
    return template.format(base=base, assessment_id=assessment_id)


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


def _create_once(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (owner-only) unless another process got there first.

    Workers start at once on a new data directory: each writes its own scratch file in
    full, then links it to ``path``, which fails where ``path`` exists, so the first
    complete file wins, nobody replaces it, and nobody reads one half written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")  # 0600
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass
        except OSError:
            # A filesystem without hard links: an atomic rename, whole but not first-wins.
            if not path.exists():
                os.replace(scratch, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)
