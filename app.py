"""The app's router: prepare the database on first run, then navigate to the pages.

Run with ``streamlit run app.py``. Later issues add login and role-based pages here.
"""

from __future__ import annotations

import streamlit as st

from data_access.config import load_settings
from data_access.migrate import upgrade
from etl.bootstrap import load_first_run_demo, needs_demo
from pages import cache

st.set_page_config(page_title="Inventory planning", page_icon="📦", layout="wide")


@st.cache_resource(show_spinner=False)
def _prepared(url: str) -> bool:
    """Migrate, and on the embedded default fill an empty database with the demo company (once)."""
    settings = load_settings()
    engine = cache.engine()
    upgrade(engine)
    if needs_demo(engine, settings):
        with st.status(f"First run: loading the {settings.demo_scale} demo company…", expanded=True) as status:
            bar = st.progress(0.0)
            load_first_run_demo(engine, settings, progress=lambda fraction, message: bar.progress(fraction, text=message))
            status.update(label="Demo company loaded", state="complete", expanded=False)
    return True


_prepared(load_settings().database_url)
navigation = st.navigation([st.Page("pages/overview.py", title="Overview", icon="📊", default=True)])
navigation.run()
