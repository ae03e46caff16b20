"""One small XLSX writer for every list export (openpyxl).

Why one helper: every exported list must look the same to the safety office that files it
(header row in the reader's language, bold and frozen, readable column widths, times in
plant time) and must be equally safe. Safety here means **formula injection**: a hazard
title such as ``=HYPERLINK(...)`` typed on a phone would run when the sheet is opened. Every
text cell is therefore written as a string cell (``t="s"``, never a formula) and a text that
starts with ``= + - @`` (or a tab/carriage return, which spreadsheets strip before parsing)
also gets the ``quotePrefix`` style, so that editing the cell in Excel/WPS keeps it text.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from plantguard.core.i18n import gettext
from plantguard.timeseries.alignment.times import plant_tz

XLSX_MEDIA_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_ROWS: Final = 10_000  # an export is a filing copy, not a backup; the API pages beyond that
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
MIN_WIDTH, MAX_WIDTH = 6, 60
DATETIME_FORMAT: Final = "yyyy-mm-dd hh:mm"
DATE_FORMAT: Final = "yyyy-mm-dd"


@dataclass(frozen=True)
class Column:
    """A column: ``header`` is a message id (translated when written); ``value`` reads a row."""

    header: str
    value: Callable[[Any], Any]


def _display_width(text: str) -> int:
    """Wide (CJK) characters take two columns in a spreadsheet cell."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _put(cell: Cell, value: Any) -> int:
    """Write one value; returns its display width. Times become plant-local, naive (a
    spreadsheet has no zones) and formatted; texts never become formulas."""
    if value is None:
        return 0
    if isinstance(value, bool):
        text = gettext("Yes") if value else gettext("No")
        cell.value = text
        cell.data_type = "s"
        return _display_width(text)
    if isinstance(value, datetime):
        local = value.astimezone(plant_tz()).replace(tzinfo=None) if value.tzinfo else value
        cell.value = local
        cell.number_format = DATETIME_FORMAT
        return 16
    if isinstance(value, date):
        cell.value = value
        cell.number_format = DATE_FORMAT
        return 10
    if isinstance(value, int | float):
        cell.value = value
        return len(str(value))
    text = str(value)
    cell.value = text
    cell.data_type = "s"  # a string cell even when it starts with "=": never a formula
    if text.startswith(FORMULA_STARTS):
        cell.quotePrefix = True
    return max((_display_width(line) for line in text.splitlines()), default=0)


def workbook(title: str, columns: Sequence[Column], rows: Iterable[Any]) -> bytes:
    """The XLSX file of ``rows``: one sheet named ``title`` (a message id), translated header
    row (bold, frozen, with a filter), one line per row, column widths from the content."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    sheet_title = gettext(title)
    for ch in '[]:*?/\\':
        sheet_title = sheet_title.replace(ch, " ")
    ws.title = sheet_title[:31] or "Sheet1"
    widths = [0] * len(columns)
    bold = Font(bold=True)
    for i, col in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=i)
        widths[i - 1] = _put(cell, gettext(col.header))
        cell.font = bold
    r = 1
    for r, row in enumerate(rows, start=2):
        for i, col in enumerate(columns, start=1):
            widths[i - 1] = max(widths[i - 1], _put(ws.cell(row=r, column=i), col.value(row)))
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(MAX_WIDTH, max(MIN_WIDTH, w + 2))
    ws.freeze_panes = "A2"
    if columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(r, 1)}"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def filename(stem: str, today: date | None = None) -> str:
    """``hazards-20261101.xlsx`` (plant date): ASCII, so every browser keeps it."""
    day = today or datetime.now(plant_tz()).date()
    return f"{stem}-{day:%Y%m%d}.xlsx"
