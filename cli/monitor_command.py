"""``monitor``: the monitoring report of the audit store, printed and written as an HTML page."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.audit_commands import (
    DatabaseUrlOption,
    SinceOption,
    UntilOption,
    audit_url_option,
    moment_option,
)
from cli.console import fail, progress, say


def monitor(
    database_url: DatabaseUrlOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    window_days: Annotated[
        float | None,
        typer.Option("--window-days", min=1 / 24, help="Window length in days (default: one)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Only this model version.", show_default=False)
    ] = None,
    html: Annotated[
        Path, typer.Option("--html", help="Where to write the HTML report with plots.")
    ] = Path("monitoring-report.html"),
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the report as JSON here.", show_default=False),
    ] = None,
) -> None:
    """Score distribution, input drift and realised performance per model version and window.

    Thresholds are the service's (DROPOUT_RISK_MONITORING_*, read as the service reads
    them); drift is measured against each version's training profile, read from the model
    registry.
    """
    import json

    from monitoring.render import render_monitoring_report
    from monitoring.report import monitor as monitor_records
    from monitoring.settings import MonitoringSettings
    from service.audit import AuditStore, AuditUnavailableError

    period = {"since": moment_option(since, option="--since")}
    period["until"] = moment_option(until, option="--until")
    if period["since"] and period["until"] and period["since"] >= period["until"]:
        fail("--since must be before --until")
    url = audit_url_option(database_url)
    thresholds = MonitoringSettings().thresholds()
    try:
        with progress("monitoring") as step, AuditStore.open(url) as store:
            step("reading assessments and outcomes; computing the report")
            report = monitor_records(
                store.assessments(**period, model_version=model),
                store.outcomes(),
                references=_RegistryProfiles(step),
                window=timedelta(days=window_days) if window_days else None,
                thresholds=thresholds,
                **period,
            ).to_dict()
            step("drawing the report")
            html.parent.mkdir(parents=True, exist_ok=True)
            html.write_text(render_monitoring_report(report), encoding="utf-8")
    except (AuditUnavailableError, ValueError) as error:
        fail(str(error))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2))
    _print(report)
    say(f"report: {html}" + (f", {json_out}" if json_out else ""))


class _RegistryProfiles(Mapping[str, Any]):
    """Training profiles of model versions, fetched from the registry when first asked for."""

    def __init__(self, step) -> None:
        self._step = step
        self._profiles: dict[str, Any] = {}

    def __getitem__(self, version: str) -> Any:
        if version not in self._profiles:
            self._profiles[version] = self._fetch(version)
        return self._profiles[version]

    def _fetch(self, version: str) -> Any:
        from training.registry import load_model
        from training.settings import TrainingSettings

        self._step(f"reading the training profile of version {version} from the registry")
        try:
            model, _ = load_model(TrainingSettings(), version=version)
        except Exception as error:  # noqa: BLE001 - any registry failure: report without drift
            self._step(f"no training profile for version {version}: {error}")
            return None
        return model.metadata.get("reference")

    def __iter__(self) -> Iterator[str]:
        return iter(self._profiles)

    def __len__(self) -> int:
        return len(self._profiles)


def _print(report: dict[str, Any]) -> None:
    """One line per window, then the alerts."""
    if not report["windows"]:
        say("no assessments in the period")
    say(f"{'version':>7}  {'window from':<16} {'n':>7}  {'mean p dropout':>14}  "
        f"{'max input PSI':>13}  {'realised AUROC dropout':>22}")  # fmt: skip
    for window in report["windows"]:
        drift = window["drift"]
        largest = f"{drift['largest'][0]['psi']:.3f}" if drift and drift["largest"] else "-"
        realised = window["realised"]["dropout"]
        auroc = "-"
        if realised and realised["auroc"]["value"] is not None:
            auroc = f"{realised['auroc']['value']:.3f} (n={realised['labelled']:,})"
        say(
            f"{window['model_version']:>7}  {window['start'][:16]:<16} "
            f"{window['assessments']:>7,}  {window['scores']['dropout']['mean']:>14.3f}  "
            f"{largest:>13}  {auroc:>22}"
        )
    say(f"{len(report['alerts'])} alert(s)")
    for alert in report["alerts"]:
        say(f"  ALERT version {alert['model_version']} {alert['window_start'][:10]}: "
            f"{alert['message']}")  # fmt: skip
