"""Admin (IT administrator): data loads and their rejected rows, users and roles, the audit log."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from data_access import app_reads
from pages import access, cache, exports

st.title("Admin")
runs, read_at = cache.etl_runs()
cache.freshness(read_at)
loads_tab, users_tab, audit_tab = st.tabs(["Data loads", "Users and roles", "Audit log"])
number = st.column_config.NumberColumn


def loads_view() -> None:
    """Every load with its counts, and the rejected rows of the one picked."""
    if runs.empty:
        st.info("No data load recorded yet. Load data with `python -m etl load DIR` (or `python -m etl demo`); each "
                "run and its rejected rows then show here.")
        return
    last = runs.iloc[0]
    row = st.columns(5)
    row[0].metric("Loads recorded", f"{len(runs):,}")
    row[1].metric("Failed loads", f"{int((runs['status'] == 'failed').sum()):,}")
    row[2].metric(f"Last load (#{last['id']})", str(last["status"]),
                  help=f"{last['source']}, started {last['started_at']:%Y-%m-%d %H:%M:%S} UTC")
    row[3].metric("Rows loaded (last load)", f"{last['rows_loaded']:,}")
    row[4].metric("Rows rejected (all loads)", f"{runs['rows_rejected'].sum():,}")

    counts = runs.rename(columns={"rows_loaded": "Loaded", "rows_rejected": "Rejected"}).melt(
        id_vars=["id", "started_at", "status"], value_vars=["Loaded", "Rejected"], var_name="rows", value_name="count")
    counts["load"] = "#" + counts["id"].astype(str) + " " + counts["started_at"].dt.strftime("%Y-%m-%d %H:%M")
    chart = px.bar(counts.sort_values("id"), x="load", y="count", color="rows", barmode="group", log_y=True,
                   title="Rows loaded and rejected per data load (log scale)",
                   labels={"load": "Load (id, start UTC)", "count": "Rows (log scale)", "rows": ""})
    chart.update_yaxes(dtick=1, tickformat=",d")
    st.plotly_chart(chart, width="stretch")
    st.dataframe(runs, hide_index=True, width="stretch", column_config={
        "id": number("Run", format="%d"), "started_at": st.column_config.DatetimeColumn("Started (UTC)"),
        "finished_at": st.column_config.DatetimeColumn("Finished (UTC)"),
        "rows_read": number("Read", format="%,d"), "rows_loaded": number("Loaded", format="%,d"),
        "rows_rejected": number("Rejected", format="%,d"), "seconds": number("Seconds", format="%,.1f"),
    })
    exports.download_buttons(runs, "data_loads", "loads")

    st.subheader("Rejected rows of a load")
    with_rejects = runs[runs["rows_rejected"] > 0]
    default = int(with_rejects["id"].iloc[0]) if not with_rejects.empty else int(runs["id"].iloc[0])
    ids = runs["id"].astype(int).tolist()
    labels = {int(r.id): f"#{r.id} · {r.started_at:%Y-%m-%d %H:%M} · {r.status} · {r.rows_rejected:,} rejected · "
                         f"{r.source}" for r in runs.itertuples()}
    run_id = st.selectbox("Load", ids, index=ids.index(default), format_func=labels.get, key="admin_run")
    summary, rejects = cache.etl_rejects(run_id)
    if rejects.empty:
        st.success(f"Load #{run_id} rejected no row.")
        return
    chart = px.bar(summary.head(20).assign(what=summary["file"] + " · " + summary["column_name"].fillna("(row)")),
                   x="rows", y="what", color="reason", orientation="h",
                   title=f"Rejected rows of load #{run_id} by file, column and reason",
                   labels={"rows": "Rejected rows", "what": "File · column", "reason": "Reason"})
    chart.update_yaxes(categoryorder="total ascending")
    chart.update_xaxes(tickformat=",d", rangemode="tozero", dtick=max(1, int(summary["rows"].max()) // 5))
    st.plotly_chart(chart, width="stretch")
    labels = {"file": st.column_config.TextColumn("File"), "column_name": st.column_config.TextColumn("Column"),
              "reason": st.column_config.TextColumn("Reason"), "value": st.column_config.TextColumn("Value")}
    st.dataframe(summary, hide_index=True, width="stretch",
                 column_config={**labels, "rows": number("Rows", format="%,d")})
    st.caption(f"{len(rejects):,} rejected row(s) shown (at most 10,000), by file and row number. Fix them at the "
               "source and load the files again: loads upsert, so the good rows are not duplicated.")
    st.dataframe(rejects, hide_index=True, width="stretch",
                 column_config={**labels, "row_number": number("Row", format="%d")})
    exports.download_buttons(rejects, f"rejected_rows_load_{run_id}", "rejected rows")


def users_view() -> None:
    """Users with their roles and pages, and which pages each role sees."""
    mode = access.app_mode()
    users = pd.DataFrame(access.user_directory(mode))
    if mode == "production":
        st.caption(f"Production mode: users from `{access.users_file()}` (bcrypt-hashed passwords). Add a user or a "
                   "role by editing that file and restarting the app.")
    else:
        st.caption("Demo mode: one user per role, named after it, password `demo`. Production mode "
                   "(`APP_MODE=production`) reads the users from a YAML file outside git instead (see README).")
    if users.empty:
        st.info("No user is configured. Add users to the users file (README, Users and roles) and restart the app.")
        return
    shown = users.assign(roles=users["roles"].map(", ".join), pages=users["pages"].map(", ".join))
    st.subheader(f"Users ({len(shown):,})")
    st.dataframe(shown, hide_index=True, width="stretch")
    exports.download_buttons(shown, "users", "users")
    st.subheader("Pages per role")
    st.caption("Only these pages are registered for a user holding the role, so no URL reaches the others; "
               "`admin` sees every page.")
    matrix = pd.DataFrame(access.role_page_matrix())
    st.dataframe(matrix, hide_index=True, width="stretch", column_config={
        page.title: st.column_config.CheckboxColumn(page.title) for page in access.PAGES
    })
    exports.download_buttons(matrix, "pages_per_role", "pages per role")


def audit_view() -> None:
    """The latest decisions recorded in the audit log."""
    log = app_reads.audit_log(cache.engine())
    if log.empty:
        st.info("No audit entry yet: approvals and rejections of replenishment proposals, and other decisions, are "
                "recorded here as users make them.")
        return
    st.caption(f"The latest {len(log):,} entries, newest first.")
    st.dataframe(log, hide_index=True, width="stretch",
                 column_config={"ts": st.column_config.DatetimeColumn("When (UTC)")})
    exports.download_buttons(log, "audit_log", "audit log")


with loads_tab:
    loads_view()
with users_tab:
    users_view()
with audit_tab:
    audit_view()
