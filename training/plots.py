"""Evaluation plots saved as PNG: ROC, precision-recall, calibration, global importance."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window: training runs headless

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

_MODEL_STYLES = {
    "xgboost": ("XGBoost (calibrated)", "-"),
    "logistic": ("Logistic regression", "--"),
}


def save_plots(
    predictions: pd.DataFrame, importance: dict[str, float], *, outcome: str, directory: Path
) -> list[Path]:
    """Write the four plots of ``outcome`` into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    labels = predictions["label"].to_numpy(dtype=float)
    paths = [
        _curve_plot(predictions, labels, outcome, directory, kind="roc"),
        _curve_plot(predictions, labels, outcome, directory, kind="precision_recall"),
        _calibration_plot(predictions, labels, outcome, directory),
        _importance_plot(importance, outcome, directory),
    ]
    plt.close("all")
    return paths


def _model_scores(predictions: pd.DataFrame):
    """(legend name, line style, scores) of each model present in ``predictions``."""
    for model, (name, style) in _MODEL_STYLES.items():
        column = f"{model}_probability"
        if column in predictions:
            yield name, style, predictions[column].to_numpy(dtype=float)


def _curve_plot(
    predictions: pd.DataFrame, labels: np.ndarray, outcome: str, directory: Path, *, kind: str
) -> Path:
    figure, axes = plt.subplots(figsize=(5, 5))
    for name, style, scores in _model_scores(predictions):
        if kind == "roc":
            x, y, _ = roc_curve(labels, scores)
        else:
            y, x, _ = precision_recall_curve(labels, scores)
        axes.plot(x, y, style, label=name)
    if kind == "roc":
        axes.plot([0, 1], [0, 1], ":", color="grey", label="Chance")
        axes.set(xlabel="1 - specificity", ylabel="Sensitivity")
    else:
        axes.axhline(labels.mean(), linestyle=":", color="grey", label="Base rate")
        axes.set(xlabel="Sensitivity (recall)", ylabel="Positive predictive value")
    axes.set_title(f"{outcome.replace('_', ' ')}: {kind.replace('_', '-')} (held-out clients)")
    axes.legend(loc="best")
    path = directory / f"{outcome}_{kind}.png"
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _calibration_plot(
    predictions: pd.DataFrame, labels: np.ndarray, outcome: str, directory: Path
) -> Path:
    figure, axes = plt.subplots(figsize=(5, 5))
    for name, style, scores in _model_scores(predictions):
        edges = np.quantile(scores, np.linspace(0, 1, 11))
        bins = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, 9)
        predicted = np.bincount(bins, scores, 10) / np.maximum(np.bincount(bins, minlength=10), 1)
        observed = np.bincount(bins, labels, 10) / np.maximum(np.bincount(bins, minlength=10), 1)
        axes.plot(predicted, observed, style, marker="o", label=name)
    axes.plot([0, 1], [0, 1], ":", color="grey", label="Perfect calibration")
    axes.set(xlabel="Predicted probability (deciles)", ylabel="Observed rate")
    axes.set_title(f"{outcome.replace('_', ' ')}: calibration (held-out clients)")
    axes.legend(loc="upper left")
    path = directory / f"{outcome}_calibration.png"
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _importance_plot(importance: dict[str, float], outcome: str, directory: Path) -> Path:
    names = list(importance)[::-1]
    figure, axes = plt.subplots(figsize=(6, 0.4 * len(names) + 1))
    axes.barh(names, [importance[n] for n in names], color="#3b6ea5")
    axes.set(xlabel="Mean absolute effect (probability points)")
    axes.set_title(f"{outcome.replace('_', ' ')}: what drives the estimate")
    path = directory / f"{outcome}_importance.png"
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path
