"""The app's router: prepare the database on first run, log in, then navigate to the pages the user's roles allow.

Run with ``streamlit run app.py``. Roles and pages: ``pages/access.py``.
"""

from __future__ import annotations

import copy
import os
import secrets

import streamlit as st
import streamlit_authenticator as stauth

from data_access.config import load_settings
from data_access.migrate import upgrade
from etl.bootstrap import load_first_run_demo, needs_demo
from pages import access, cache

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


def _secret_cookie_key() -> str | None:
    try:
        return st.secrets.get("auth", {}).get("cookie_key")
    except FileNotFoundError:  # no secrets.toml at all (StreamlitSecretNotFoundError)
        return None


@st.cache_resource(show_spinner=False)
def _credentials(mode: str) -> tuple[dict, str]:
    """Hashed credentials and the cookie key (hashing once per server, not per page view)."""
    if mode == "production":
        key = os.environ.get("AUTH_COOKIE_KEY") or _secret_cookie_key()
        if not key:
            raise access.ConfigurationError(
                "APP_MODE=production needs a cookie key: set AUTH_COOKIE_KEY or [auth] cookie_key in "
                ".streamlit/secrets.toml"
            )
        return access.production_credentials(), key
    # Every demo user has the same password: one bcrypt hash (≈0.3 s) instead of one per user.
    credentials, hashed = access.demo_credentials(), stauth.Hasher.hash(access.DEMO_PASSWORD)
    for user in credentials["usernames"].values():
        user["password"] = hashed
    return credentials, secrets.token_hex(16)


def _login_page() -> None:
    st.title("Inventory planning")
    authenticator.login(location="main")
    if st.session_state.get("authentication_status") is False:
        st.error("Unknown user name or wrong password.")
    if mode != "production":
        st.info(
            "Demo mode: one user per role, password **demo**: "
            + ", ".join(f"`{role}`" for role in access.ROLES)
        )


mode = access.app_mode()
try:
    credentials, cookie_key = _credentials(mode)
except access.ConfigurationError as error:
    st.error(str(error))
    st.stop()
_prepared(load_settings().database_url)
authenticator = stauth.Authenticate(
    copy.deepcopy(credentials), "inventory_planning_auth", cookie_key, cookie_expiry_days=1, auto_hash=False
)

if not st.session_state.get("authentication_status"):
    st.navigation([st.Page(_login_page, title="Log in", icon=":material/login:")]).run()
    st.stop()

roles = st.session_state.get("roles") or []
# A customer user sees one customer's orders: ``customer: CODE`` in the users file (the demo picks one).
customer_code = credentials["usernames"].get(st.session_state.get("username"), {}).get("customer")
if customer_code:
    st.session_state["customer_code"] = str(customer_code)
else:
    st.session_state.pop("customer_code", None)  # not left behind by another user of this browser session
allowed = access.pages_for(roles)
with st.sidebar:
    st.caption(f"Signed in as **{st.session_state.get('name')}** ({', '.join(roles) or 'no role'})")
    authenticator.logout("Log out", location="sidebar")
if not allowed:
    st.warning("Your roles give access to no page yet. Ask an administrator to add a role to your user.")
    st.stop()
st.session_state["registered_pages"] = [p.path for p in allowed]  # what st.navigation knows; nothing else opens
st.navigation([st.Page(p.path, title=p.title, icon=p.icon, default=(i == 0)) for i, p in enumerate(allowed)],
              expanded=True).run()  # every page in the menu (admin has more than the 10 shown by default)
