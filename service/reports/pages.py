"""HTML of the report and model-card pages (Jinja2, autoescaped; templates beside this file)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt

from service.reports.caseload_view import CaseloadView
from service.reports.view import ReportView


@cache
def _templates() -> Environment:
    # Built on first use, not at import; the environment is immutable once built.
    return Environment(
        loader=PackageLoader("service.reports", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def report_page(view: ReportView, *, model_card_url: str) -> str:
    """The report page of one assessment."""
    template = _templates().get_template("report.html")
    return template.render(view=view, model_card_url=model_card_url)


def caseload_page(
    view: CaseloadView,
    *,
    actor: str | None,
    link_fields: dict[str, str],
    therapist_url: Callable[[str], str],
) -> str:
    """The caseload page; alert actions are shown only when ``actor`` may take them, and
    their forms carry ``link_fields`` (the signed link the page was opened with)."""
    return (
        _templates()
        .get_template("caseload.html")
        .render(view=view, actor=actor, link_fields=link_fields, therapist_url=therapist_url)
    )


def model_card_page(*, name: str, version: str, card_markdown: str) -> str:
    """The model card, rendered from its Markdown (raw HTML in it is escaped, not passed on)."""
    card_html = MarkdownIt("commonmark", {"html": False}).enable("table").render(card_markdown)
    return (
        _templates()
        .get_template("model_card.html")
        .render(name=name, version=version, card_html=card_html)
    )


def error_page(status: int, message: str) -> HTMLResponse:
    """A short HTML page saying why a page cannot be shown (no detail beyond ``message``)."""
    html = _templates().get_template("error.html").render(status=status, message=message)
    return HTMLResponse(html, status_code=status)
