"""The monthly response report as a PDF (fpdf2): one table per month and one for
the whole span, the same figures as the JSON and CSV; a home's row carries its
name and its residents' names.

Chinese names need a font with CJK glyphs, embedded in the PDF (subset to the
characters used): ``ELDERCARE_REPORT_FONT`` names one (TTF, OTF or TTC),
otherwise the first of ``CJK_FONTS`` that is installed is used (Debian's
``fonts-wqy-microhei`` or ``fonts-noto-cjk``). With none, the PDF is set in
the core Helvetica font, which holds Latin-1 only: other characters print as
'?', and the report's header says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from alerts.monthly_report import Month, MonthlyFigures, MonthlyGroups

log = logging.getLogger("eldercare.reports")

_COLS = (
    ("group", 18),
    ("key", 62),
    ("alerts", 14),
    ("ack <=60 s", 28),
    ("ack <=180 s", 28),
    ("on site in window", 32),
)
FAMILY = "report-cjk"
NO_CJK_NOTE = "(no CJK font installed: names outside Latin-1 print as '?')"


@dataclass(frozen=True, slots=True)
class ReportFont:
    path: Path
    index: int = 0
    """The face of a TTC/OTC collection."""


CJK_FONTS = (
    ReportFont(Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")),
    ReportFont(Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2),  # SC face
    ReportFont(Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")),
    ReportFont(Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")),
    ReportFont(Path("/usr/share/fonts/truetype/arphic/uming.ttc")),
)


def find_cjk_font(configured: str | None = None) -> ReportFont | None:
    """``configured`` (ELDERCARE_REPORT_FONT) if set, else the first installed
    of ``CJK_FONTS``; None: there is none (the PDF falls back to Helvetica)."""
    if configured:
        return ReportFont(Path(configured))
    for font in CJK_FONTS:
        if font.path.is_file():
            return font
    return None


def _latin(text: str) -> str:
    """The core fonts hold Latin-1 only; other characters print as '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")


def _share(count: int, pct: float | None, whole: int) -> str:
    return f"{count}/{whole} ({'-' if pct is None else f'{pct:.1f}%'})"


class _Report:
    def __init__(self, font: ReportFont | None) -> None:
        self.pdf = FPDF(orientation="portrait", format="A4")
        self.cjk = False
        if font is not None:
            try:
                for style in ("", "B"):  # one face: bold is the same glyphs
                    self.pdf.add_font(
                        FAMILY, style, str(font.path), collection_font_number=font.index
                    )
                self.cjk = True
            except Exception as exc:  # fontTools/fpdf2 raise many kinds for a bad file
                log.error("report font %s unusable (%s); Helvetica instead", font.path, exc)

    def font(self, size: float, bold: bool = False) -> None:
        self.pdf.set_font(FAMILY if self.cjk else "Helvetica", "B" if bold else "", size)

    def text(self, text: str, width: float | None = None) -> str:
        if not self.cjk:
            text = _latin(text)
        more = "…" if self.cjk else "..."  # Helvetica has no '…'
        if width is not None and self.pdf.get_string_width(text) > width - 2:
            while text and self.pdf.get_string_width(text + more) > width - 2:
                text = text[:-1]
            text += more
        return text

    def line(self, height: float, text: str) -> None:
        self.pdf.cell(0, height, self.text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def row(self, cells: Sequence[str], bold: bool = False) -> None:
        self.font(8, bold)
        for (_, width), text in zip(_COLS, cells, strict=True):
            self.pdf.cell(width, 5, self.text(text, width), border=1)
        self.pdf.ln()

    def figures_row(self, group: str, key: str, f: MonthlyFigures) -> None:
        self.row(
            [
                group,
                key,
                str(f.alerts),
                _share(f.acknowledged_within_60s, f.acknowledged_within_60s_pct, f.alerts),
                _share(f.acknowledged_within_180s, f.acknowledged_within_180s_pct, f.alerts),
                _share(f.on_site_within_window, f.on_site_within_window_pct, f.window_decided),
            ]
        )

    def table(self, title: str, g: MonthlyGroups, homes: Mapping[str, str]) -> None:
        self.font(11, bold=True)
        self.line(8, title)
        self.row([name for name, _ in _COLS], bold=True)
        self.figures_row("overall", "", g.overall)
        for group, items in (("kind", g.by_kind), ("operator", g.by_operator)):
            for key, f in items.items():
                self.figures_row(group, key, f)
        for key, f in g.by_home.items():
            label = homes.get(key)
            self.figures_row("home", f"{key} {label}" if label else key, f)
        self.pdf.ln(4)


def render(
    organisation: str,
    span: str,
    timezone: str,
    months: Sequence[Month],
    total: MonthlyGroups,
    *,
    homes: Mapping[str, str] | None = None,
    font: ReportFont | None = None,
) -> bytes:
    """``homes``: a label per home id (its name and residents' names) for the
    home rows; ``font``: a CJK font to embed (``find_cjk_font``)."""
    report = _Report(font)
    pdf = report.pdf
    pdf.set_title("Monthly response report")
    pdf.add_page()
    report.font(14, bold=True)
    report.line(10, "Monthly response report")
    report.font(9)
    report.line(6, f"Care centre: {organisation}   Months: {span}   Time zone: {timezone}")
    if not report.cjk:
        log.warning("monthly PDF without a CJK font: %s", NO_CJK_NOTE)
        report.line(6, NO_CJK_NOTE)
    pdf.ln(2)
    for m in months:
        report.table(f"Month {m.month}", m.figures, homes or {})
    report.table(f"All months {span}", total, homes or {})
    return bytes(pdf.output())
