"""Monitoring's settings, read once from the environment (prefix ``DROPOUT_RISK_MONITORING_``).

The service's periodic check and ``dropout-risk monitor`` both read these, so the command
line and the service raise the same alerts.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitoring.alerts import AlertThresholds


class MonitoringSettings(AlertThresholds, BaseSettings):
    """The alert thresholds, and how often and over what period the service checks itself.

    Attributes:
        period_days: The trailing period the periodic check covers (and the default period
            of ``GET /v1/monitoring``).
        interval_seconds: Seconds between periodic checks; 0 turns the periodic check off.
        catch_up_share: The largest share of its thread's time a check takes while it
            reads a backlog (the first check after a start reads the whole period): it
            pauses after each slice of records, so that serving, which shares the worker's
            interpreter, gets the rest; 1 never pauses, 0.1 (the least) pauses nine times
            as long as each slice took.
    """

    model_config = SettingsConfigDict(
        env_prefix="DROPOUT_RISK_MONITORING_", env_ignore_empty=True, frozen=True
    )

    period_days: float = Field(default=30.0, gt=0, le=366)
    interval_seconds: float = Field(default=900.0, ge=0, le=86_400)
    catch_up_share: float = Field(default=0.5, ge=0.1, le=1)

    def thresholds(self) -> AlertThresholds:
        """The alert thresholds alone."""
        return AlertThresholds(**self.model_dump(include=set(AlertThresholds.model_fields)))
