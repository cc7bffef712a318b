"""Who may see which page: roles (``../shared/DESIGN.md``) and the users who hold them.

Only the pages a user's roles allow are registered with ``st.navigation``, so a forbidden page
cannot be reached by URL either. ``admin`` sees everything.

Users: in demo mode (the embedded default) one user per role, named after the role, password
``demo``. In production mode (``APP_MODE=production``) users come from a YAML file outside git
(``USERS_FILE``, default ``var/users.yaml``) with bcrypt-hashed passwords, and the cookie key
must come from ``AUTH_COOKIE_KEY`` or Streamlit secrets (``[auth] cookie_key``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from data_access.config import PROJECT_ROOT

ROLES = (
    "executive", "planner", "production", "sales", "warehouse", "logistics", "finance", "marketing", "admin",
    "customer",
)
DEMO_PASSWORD = "demo"


@dataclass(frozen=True)
class PageSpec:
    """A page of the app and the roles that may open it."""

    path: str
    title: str
    icon: str
    roles: frozenset[str]


PAGES = (
    PageSpec("pages/overview.py", "Overview", ":material/insights:",
             frozenset({"executive", "planner", "production", "sales", "logistics", "finance", "marketing"})),
    PageSpec("pages/inventory.py", "Inventory", ":material/inventory_2:",
             frozenset({"executive", "planner", "production", "sales", "warehouse", "logistics", "customer"})),
    PageSpec("pages/replenishment.py", "Replenishment", ":material/local_shipping:",
             frozenset({"planner", "production"})),
    PageSpec("pages/demand.py", "Demand", ":material/trending_up:", frozenset({"planner", "production"})),
    PageSpec("pages/production.py", "Production", ":material/factory:", frozenset({"production"})),
    PageSpec("pages/sales.py", "Sales", ":material/support_agent:", frozenset({"sales"})),
    PageSpec("pages/backorders.py", "Backorders", ":material/pending_actions:", frozenset({"executive", "sales"})),
    PageSpec("pages/logistics.py", "Logistics", ":material/route:", frozenset({"logistics"})),
    PageSpec("pages/customer.py", "My orders", ":material/storefront:", frozenset({"customer"})),
    PageSpec("pages/warehouse.py", "Warehouse", ":material/barcode_scanner:", frozenset({"warehouse"})),
    PageSpec("pages/marketing.py", "Marketing", ":material/campaign:", frozenset({"marketing", "executive"})),
    PageSpec("pages/finance.py", "Finance", ":material/account_balance:", frozenset({"finance", "executive"})),
    PageSpec("pages/admin.py", "Admin", ":material/admin_panel_settings:", frozenset({"admin"})),
)


def pages_for(roles: list[str] | tuple[str, ...] | None) -> list[PageSpec]:
    """The pages the given roles may see, in menu order (``admin``: all of them)."""
    held = set(roles or ())
    if "admin" in held:
        return list(PAGES)
    return [page for page in PAGES if page.roles & held]


def role_page_matrix() -> list[dict[str, object]]:
    """One row per role: the role and, for every page title, whether the role sees it (``pages_for``)."""
    return [{"role": role, **{page.title: page in pages_for([role]) for page in PAGES}} for role in ROLES]


def app_mode() -> str:
    """``demo`` (default: demo users listed on the login page) or ``production``."""
    return os.environ.get("APP_MODE", "demo").strip().lower()


def users_file() -> Path:
    return Path(os.environ.get("USERS_FILE", PROJECT_ROOT / "var" / "users.yaml"))


def demo_credentials() -> dict:
    """One demo user per role, named after it (password ``demo``, hashed by the authenticator)."""
    return {
        "usernames": {
            role: {"name": f"Demo {role}", "email": f"{role}@demo.invalid", "password": DEMO_PASSWORD, "roles": [role]}
            for role in ROLES
        }
    }


def user_directory(mode: str | None = None) -> list[dict[str, object]]:
    """The users the login accepts, from the same source as ``app.py`` (demo users, or the users file in
    production mode), without their passwords: username, name, email, roles (and the pages those roles open)."""
    users = (production_credentials() if (mode or app_mode()) == "production" else demo_credentials())["usernames"]
    return [
        {"username": name, "name": user.get("name", ""), "email": user.get("email", ""),
         "roles": list(user.get("roles") or ()), "pages": [p.title for p in pages_for(user.get("roles"))]}
        for name, user in users.items()
    ]


class ConfigurationError(RuntimeError):
    """Production mode is missing what it needs to run safely."""


def production_credentials() -> dict:
    """Users from the YAML users file (``usernames: {name: {name, email, password (bcrypt), roles[, customer]}}``).

    ``customer`` (a customer code) ties a user with the ``customer`` role to the one customer whose orders it sees;
    such a user without it is refused, so a portal user can never see every customer.
    """
    import yaml

    path = users_file()
    if not path.is_file():
        raise ConfigurationError(f"APP_MODE=production needs a users file: {path} not found (see README, Users)")
    data = yaml.safe_load(path.read_text()) or {}
    users = data.get("usernames") or data.get("credentials", {}).get("usernames")
    if not users:
        raise ConfigurationError(f"{path}: no users under 'usernames'")
    for name, user in users.items():
        if not str(user.get("password", "")).startswith("$2"):
            raise ConfigurationError(f"{path}: the password of {name} is not a bcrypt hash (see README, Users)")
        unknown = set(user.get("roles") or ()) - set(ROLES)
        if unknown:
            raise ConfigurationError(f"{path}: {name} has unknown role(s) {', '.join(sorted(unknown))}")
        if "customer" in (user.get("roles") or ()) and not user.get("customer"):
            raise ConfigurationError(f"{path}: {name} has the customer role but no 'customer' code (see README, Users)")
    return {"usernames": users}
