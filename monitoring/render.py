"""The monitoring report as one self-contained HTML page, with plots (``dropout-risk monitor``).

Plots are matplotlib SVG inlined in the page, so the file can be mailed or archived whole:
per outcome, the score distribution of the latest window against training; the largest
input shifts (PSI) of the latest window; and realised AUROC and calibration per window with
their 95% intervals once outcomes have been reported.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: E402

from features.vocabulary import OUTCOME_TITLES, OUTCOMES  # noqa: E402

_PSI_BANDS = ((0.1, "#e6c35c", "0.1: moderate shift"), (0.25, "#b03a2e", "0.25: major shift"))


def render_monitoring_report(report: dict[str, Any]) -> str:
    """The HTML page of a monitoring report (:meth:`MonitoringReport.to_dict` form)."""
    environment = Environment(
        loader=PackageLoader("monitoring", "templates"), autoescape=select_autoescape()
    )
    versions = sorted({w["model_version"] for w in report["windows"]}, key=_version_order)
    sections = []
    for version in versions:
        windows = [w for w in report["windows"] if w["model_version"] == version]
        latest = windows[-1]
        sections.append(
            {
                "version": version,
                "windows": windows,
                "latest": latest,
                "score_plots": [
                    _score_plot(latest, outcome) for outcome in OUTCOMES if latest["drift"]
                ],
                "shift_plot": _shift_plot(latest) if latest["drift"] else None,
                "realised_plots": [
                    plot
                    for outcome in OUTCOMES
                    if (plot := _realised_plot(windows, outcome)) is not None
                ],
            }
        )
    return environment.get_template("monitoring.html").render(
        report=report, sections=sections, outcome_names=OUTCOME_TITLES
    )


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)


def _svg(figure: plt.Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog: the SVG sits inside HTML


def _score_plot(window: dict[str, Any], outcome: str) -> str:
    """Score histogram of the window beside the training population's."""
    current = window["scores"][outcome]["histogram"]
    reference = window["drift"]["reference_scores"][outcome]
    edges = np.r_[0.0, current["edges"], 1.0]
    centres = (edges[:-1] + edges[1:]) / 2
    width = np.diff(edges)
    figure, axes = plt.subplots(figsize=(5.2, 2.8))
    axes.bar(centres, reference["shares"][:-1], width=width * 0.9, color="#c9ced6",
             label="training population")  # fmt: skip
    axes.step(edges[1:], current["shares"][:-1], where="pre", color="#0b4f8a", linewidth=2,
              label="this window")  # fmt: skip
    psi = window["drift"]["scores"][outcome]
    axes.set_title(f"{OUTCOME_TITLES[outcome]} probability (PSI {psi:.2f})", fontsize=10)
    axes.set_xlabel("predicted probability")
    axes.set_ylabel("share of assessments")
    axes.legend(fontsize=8, frameon=False)
    return _svg(figure)


def _shift_plot(window: dict[str, Any]) -> str:
    """The ten largest input shifts (features and measure availability) of the window."""
    shifts = {**window["drift"]["features"]}
    shifts |= {f"{m} recorded": v for m, v in window["drift"]["availability"].items()}
    largest = sorted(shifts.items(), key=lambda item: -item[1])[:10][::-1]
    figure, axes = plt.subplots(figsize=(5.2, 3.2))
    axes.barh([name for name, _ in largest], [value for _, value in largest], color="#4a4a4a")
    for cut, colour, label in _PSI_BANDS:
        axes.axvline(cut, color=colour, linestyle="--", linewidth=1, label=label)
    axes.set_xlabel("population stability index against training")
    axes.set_title("Largest input shifts", fontsize=10)
    axes.legend(fontsize=8, frameon=False, loc="lower right")
    return _svg(figure)


def _realised_plot(windows: Sequence[dict[str, Any]], outcome: str) -> str | None:
    """Realised AUROC and observed vs predicted rate per window, with 95% intervals."""
    points = [(w["start"][:10], w["realised"][outcome]) for w in windows]
    points = [(day, r) for day, r in points if r is not None and r["auroc"]["value"] is not None]
    if not points:
        return None
    days = [day for day, _ in points]
    figure, (left, right) = plt.subplots(1, 2, figsize=(8.4, 2.8))
    _interval_line(left, days, [r["auroc"] for _, r in points], colour="#0b4f8a")
    left.axhline(0.5, color="#9b1c1c", linestyle=":", linewidth=1)
    left.set_title(f"{OUTCOME_TITLES[outcome]}: realised AUROC", fontsize=10)
    left.set_ylim(0.3, 1.0)
    right.plot(days, [r["observed_rate"] for _, r in points], "o-", color="#1b1b1b",
               label="observed")  # fmt: skip
    right.plot(days, [r["mean_predicted"] for _, r in points], "s--", color="#0b4f8a",
               label="predicted")  # fmt: skip
    right.set_title(f"{OUTCOME_TITLES[outcome]}: observed vs predicted rate", fontsize=10)
    right.legend(fontsize=8, frameon=False)
    for axes in (left, right):
        axes.tick_params(axis="x", labelrotation=45, labelsize=8)
    return _svg(figure)


def _interval_line(axes: plt.Axes, days: list[str], stats: list[dict], *, colour: str) -> None:
    values = np.array([s["value"] for s in stats], dtype=float)
    low = np.array([s["low"] if s["low"] is not None else np.nan for s in stats], dtype=float)
    high = np.array([s["high"] if s["high"] is not None else np.nan for s in stats], dtype=float)
    # An undefined interval draws no bar; a percentile interval may even miss its point.
    below = np.nan_to_num(np.clip(values - low, 0, None))
    above = np.nan_to_num(np.clip(high - values, 0, None))
    axes.errorbar(days, values, yerr=[below, above], fmt="o-", color=colour, capsize=3)
