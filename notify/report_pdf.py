"""The validation report attached to a notice: an A4 PDF rendered with WeasyPrint.

It repeats what the e-mail says in a form a supplier can file or forward: the
document, the verdict (status and reasons in words) and every finding (fatal
ones first) with the field's EN 16931 name, the value received and what to change.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from notify.models import NoticeData, NoticeKind
from notify.render import TEMPLATES, environment, format_date, notice_context

_VERDICT: Final[dict[str, dict[str, str]]] = {
    "fr": {
        NoticeKind.NO_STRUCTURED_DATA: "Le fichier est un PDF sans données de facture structurées "
        "(ni Factur-X, ni UBL, ni CII) : il ne peut pas être traité.",
        NoticeKind.UNREADABLE: "Le fichier n'a pas pu être lu : il ne peut pas être traité.",
        NoticeKind.INVALID: "La facture ne respecte pas les règles de la facture électronique "
        "(EN 16931, règles françaises) : elle est rejetée.",
        NoticeKind.REFUSED: "La facture ne respecte pas les règles de facturation de l'acheteur.",
    },
    "en": {
        NoticeKind.NO_STRUCTURED_DATA: "The file is a PDF without structured invoice data "
        "(neither Factur-X, UBL nor CII): it cannot be processed.",
        NoticeKind.UNREADABLE: "The file could not be read: it cannot be processed.",
        NoticeKind.INVALID: "The invoice does not meet the e-invoicing rules (EN 16931, French rules): "
        "it is rejected.",
        NoticeKind.REFUSED: "The invoice does not meet the buyer's billing rules.",
    },
}
_SEVERITIES: Final[dict[str, dict[str, str]]] = {
    "fr": {"fatal": "bloquant", "warning": "avertissement", "information": "information"},
    "en": {"fatal": "blocking", "warning": "warning", "information": "information"},
}


def report_html(data: NoticeData, *, inline_css: bool = True) -> str:
    """The report as an HTML page (escaped), self-contained with the CSS inlined unless told not to."""
    lang = data.language
    context: dict[str, Any] = notice_context(data)
    context.update(
        css=(TEMPLATES / "report.css").read_text(encoding="utf-8") if inline_css else "",
        issued_at=format_date(data.issued_at, lang),
        verdict_text=_VERDICT[lang][data.kind],
        all_findings=context["findings"] + context["remarks"],
        severities=_SEVERITIES[lang],
    )
    return environment().get_template("report.html.jinja").render(**context)


@cache
def _stylesheet() -> Any:
    """The report's CSS, parsed once per process (a worker renders many reports)."""
    import weasyprint

    return weasyprint.CSS(filename=str(TEMPLATES / "report.css"), base_url=str(TEMPLATES))


def render_report_pdf(data: NoticeData) -> bytes:
    """The validation report of ``data`` as an A4 PDF.

    Most of the time goes to WeasyPrint's layout. With ``libharfbuzz-subset0``
    installed it subsets the embedded fonts in C; without it, with fontTools,
    which takes about three times as long as the rest (the Makefile installs it).
    """
    import weasyprint  # imported here: loading pango/cairo is slow and only this function needs it

    html = weasyprint.HTML(string=report_html(data, inline_css=False), base_url=str(TEMPLATES))
    pdf = html.write_pdf(stylesheets=[_stylesheet()])
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf without a target returns bytes
        raise TypeError("weasyprint returned no bytes")
    return pdf
