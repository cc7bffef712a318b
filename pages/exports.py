"""Download buttons: every table a user may want elsewhere, as CSV and as Excel."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st


def to_excel(frame: pd.DataFrame, sheet: str = "data") -> bytes:
    """An .xlsx file: numbers stay numbers, dates are Excel dates, header bold and frozen."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="xlsxwriter", datetime_format="yyyy-mm-dd", date_format="yyyy-mm-dd") as writer:
        frame.to_excel(writer, sheet_name=sheet, index=False)
        worksheet = writer.sheets[sheet]
        worksheet.freeze_panes(1, 0)
        for index, column in enumerate(frame.columns):
            width = max(len(str(column)), *(len(str(v)) for v in frame[column].head(200))) if len(frame) else len(column)
            worksheet.set_column(index, index, min(width + 2, 40))
    return buffer.getvalue()


def download_buttons(frame: pd.DataFrame, name: str) -> None:
    """CSV and Excel download buttons for ``frame``."""
    left, right = st.columns(2)
    left.download_button("Download CSV", frame.to_csv(index=False).encode("utf-8"), f"{name}.csv", "text/csv",
                         key=f"{name}_csv")
    right.download_button(
        "Download Excel", to_excel(frame), f"{name}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key=f"{name}_xlsx",
    )
