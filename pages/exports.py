"""Download buttons: every table a user may want elsewhere, as CSV and as Excel."""

from __future__ import annotations

import functools
import io

import pandas as pd
import streamlit as st


def _excel_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with what a worksheet cannot hold made writable: lists and dicts as text, time zones dropped."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            out[name] = column.dt.tz_localize(None)
        elif column.dtype == object and column.map(lambda v: isinstance(v, list | tuple | dict | set)).any():
            out[name] = column.map(lambda v: ", ".join(map(str, v)) if isinstance(v, list | tuple | set)
                                   else str(v) if isinstance(v, dict) else v)
    return out


def to_csv(frame: pd.DataFrame) -> bytes:
    """A UTF-8 CSV file of ``frame`` without its index."""
    return frame.to_csv(index=False).encode("utf-8")


def to_excel(frame: pd.DataFrame, sheet: str = "data") -> bytes:
    """An .xlsx file: numbers stay numbers, dates are Excel dates, header bold and frozen."""
    frame = _excel_ready(frame)
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="xlsxwriter", datetime_format="yyyy-mm-dd", date_format="yyyy-mm-dd") as writer:
        frame.to_excel(writer, sheet_name=sheet, index=False)
        worksheet = writer.sheets[sheet]
        worksheet.freeze_panes(1, 0)
        for index, column in enumerate(frame.columns):
            width = max(len(str(column)), *(len(str(v)) for v in frame[column].head(200))) if len(frame) else len(column)
            worksheet.set_column(index, index, min(width + 2, 40))
    return buffer.getvalue()


def download_buttons(frame: pd.DataFrame, name: str, label: str | None = None) -> None:
    """CSV and Excel download buttons for ``frame`` (files ``name``.csv/.xlsx; ``label`` names the table on the
    buttons where a page offers several).

    The files are written only when a button is clicked (deferred data), and a click does not rerun the page, so
    a view with many tables stays fast.
    """
    suffix = f" ({label})" if label else ""
    left, right = st.columns(2)
    left.download_button(f"Download CSV{suffix}", functools.partial(to_csv, frame), f"{name}.csv", "text/csv",
                         key=f"{name}_csv", on_click="ignore")
    right.download_button(
        f"Download Excel{suffix}", functools.partial(to_excel, frame), f"{name}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key=f"{name}_xlsx", on_click="ignore",
    )
