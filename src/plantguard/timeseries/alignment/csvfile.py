"""Reading an uploaded CSV file (or JSON rows) into header cells and numbered rows.

Plant exports come from Excel, PLC tools and MES reports: UTF-8 with or without a BOM, or
GB 18030 from a Chinese Windows; ``,``, ``;`` or tab separated (the header line decides). Line
numbers are those a user sees in an editor: a quoted value that spans lines counts them all.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from plantguard.core.errors import FieldError, ValidationFailed
from plantguard.core.i18n import N_

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 500_000

FILE_EMPTY = N_("The file has no header line")
FILE_NOT_TEXT = N_("The file is not CSV text (UTF-8 or GB 18030)")
FILE_TOO_BIG = N_("The file is larger than %(limit)s MB")
FILE_TOO_MANY_ROWS = N_("The file has more than %(limit)s rows")
FILE_BAD_CSV = N_("The file cannot be read as CSV near line %(line)s")


class ImportFileError(ValidationFailed):
    """The file as a whole cannot be imported (not CSV, too big, a required column missing)."""


def file_error(message: str, **params: Any) -> ImportFileError:
    return ImportFileError([FieldError("file", message, params)])


# -- reading the table ----------------------------------------------------------------------------


@dataclass
class ParsedTable:
    """A parsed table: the header cells and the data rows with their line numbers."""

    header: list[str]
    rows: list[tuple[int, list[str]]]
    header_line: int = 1  # 0 for JSON records, which have none


def decode(data: bytes) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise file_error(FILE_TOO_BIG, limit=MAX_FILE_BYTES // (1024 * 1024))
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text
    raise file_error(FILE_NOT_TEXT)


def delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def read_table(text: str) -> ParsedTable:
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), None)
    if first is None:
        raise file_error(FILE_EMPTY)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(first))
    header: list[str] | None = None
    header_line = 1
    rows: list[tuple[int, list[str]]] = []
    last_line = 0
    try:
        for record in reader:
            start, last_line = last_line + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header, header_line = record, start
                continue
            rows.append((start, record))
            if len(rows) > MAX_ROWS:
                raise file_error(FILE_TOO_MANY_ROWS, limit=MAX_ROWS)
    except csv.Error:
        raise file_error(FILE_BAD_CSV, line=last_line + 1) from None
    if header is None:
        raise file_error(FILE_EMPTY)
    return ParsedTable(header, rows, header_line)


def table_from_records(records: Sequence[Mapping[str, Any]]) -> ParsedTable:
    """JSON rows as a table (keys are header cells); a row's "line" is its 1-based position."""
    keys: list[str] = []
    seen: set[str] = set()
    for rec in records:
        for key in rec:
            if key not in seen:
                seen.add(key)
                keys.append(key)
    # A key is echoed in error messages: one that is not valid Unicode is shown with "?".
    header = [k.encode("utf-8", "replace").decode("utf-8") for k in keys]
    rows = []
    for i, rec in enumerate(records, start=1):
        cells = []
        for key in keys:
            value = rec.get(key)
            cells.append("" if value is None else (repr(value) if isinstance(value, float) else str(value)))
        rows.append((i, cells))
    return ParsedTable(header, rows, 0)
