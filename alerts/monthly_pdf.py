"""The monthly response report as a PDF (fpdf2): one table per month and one for
the whole span, the same figures as the JSON and CSV."""

from __future__ import annotations

from collections.abc import Sequence

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from alerts.monthly_report import Month, MonthlyFigures, MonthlyGroups

_COLS = (
    ("group", 24),
    ("key", 46),
    ("alerts", 18),
    ("ack <=60 s", 28),
    ("ack <=180 s", 28),
    ("on site in window", 36),
)


def _latin(text: str) -> str:
    """The core fonts hold Latin-1 only; other characters print as '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")


def _share(count: int, pct: float | None, whole: int) -> str:
    return f"{count}/{whole} ({'-' if pct is None else f'{pct:.1f}%'})"


def _row(pdf: FPDF, cells: Sequence[str], bold: bool = False) -> None:
    pdf.set_font("Helvetica", "B" if bold else "", 8)
    for (_, width), text in zip(_COLS, cells, strict=True):
        pdf.cell(width, 5, _latin(text), border=1)
    pdf.ln()


def _figures_row(pdf: FPDF, group: str, key: str, f: MonthlyFigures) -> None:
    _row(
        pdf,
        [
            group,
            key,
            str(f.alerts),
            _share(f.acknowledged_within_60s, f.acknowledged_within_60s_pct, f.alerts),
            _share(f.acknowledged_within_180s, f.acknowledged_within_180s_pct, f.alerts),
            _share(f.on_site_within_window, f.on_site_within_window_pct, f.window_decided),
        ],
    )


def _table(pdf: FPDF, title: str, g: MonthlyGroups) -> None:
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 8, _latin(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _row(pdf, [name for name, _ in _COLS], bold=True)
    _figures_row(pdf, "overall", "", g.overall)
    for group, items in (("kind", g.by_kind), ("operator", g.by_operator), ("home", g.by_home)):
        for key, f in items.items():
            _figures_row(pdf, group, key, f)
    pdf.ln(4)


def render(
    organisation: str, span: str, timezone: str, months: Sequence[Month], total: MonthlyGroups
) -> bytes:
    pdf = FPDF(orientation="portrait", format="A4")
    pdf.set_title("Monthly response report")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, "Monthly response report", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(
        0,
        6,
        _latin(f"Care centre: {organisation}   Months: {span}   Time zone: {timezone}"),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(2)
    for m in months:
        _table(pdf, f"Month {m.month}", m.figures)
    _table(pdf, f"All months {span}", total)
    return bytes(pdf.output())
