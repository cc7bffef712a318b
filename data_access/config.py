"""Settings from ``config.toml``, overridden by environment variables.

One obvious way: ``DATABASE_URL`` in the environment wins, then ``[database] url`` in
``config.toml``, then the embedded SQLite file ``[database] sqlite_path``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_PATH = Path(os.environ.get("APP_CONFIG", PROJECT_ROOT / "config.toml"))


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with :func:`load_settings`."""

    database_url: str
    demo_scale: str
    demo_seed: int
    etl_chunk_rows: int
    etl_max_reject_share: float
    #: Sales representatives' address: backorder and ETA notices go here (the schema has no rep per customer).
    sales_email: str = "sales@example.com"
    #: The logistics manager's address: delayed-shipment notices go here.
    logistics_email: str = "logistics@example.com"
    #: A backorder's stored ETA changes (and the customer hears of it) only when it moves by more than this.
    eta_tolerance_days: int = 2
    #: Transfer days between two locations without a row in ``location_transfer_lane``.
    default_transfer_days: float = 3.0
    #: Order in which receipts go to open order lines (keys of ``analytics.promising.PRIORITY_KEYS``).
    backorder_priority: tuple[str, ...] = ("priority", "tier", "order_date", "order_no")

    @property
    def is_embedded(self) -> bool:
        """True when the database is the embedded SQLite default."""
        return self.database_url.startswith("sqlite")


def _read_toml(path: Path) -> dict:
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)


def sqlite_url(path: str | Path) -> str:
    """SQLAlchemy URL of a SQLite file, relative paths taken from the project root."""
    file = Path(path)
    if not file.is_absolute():
        file = PROJECT_ROOT / file
    return f"sqlite:///{file}"


def load_settings(config_path: Path | None = None) -> Settings:
    """Read ``config.toml`` and apply environment overrides."""
    raw = _read_toml(config_path or CONFIG_PATH)
    database = raw.get("database", {})
    demo = raw.get("demo", {})
    etl = raw.get("etl", {})
    notices = raw.get("notifications", {})
    backorders = raw.get("backorders", {})
    url = os.environ.get("DATABASE_URL") or database.get("url") or ""
    if not url:
        url = sqlite_url(os.environ.get("SQLITE_PATH") or database.get("sqlite_path", "var/inventory.sqlite"))
    return Settings(
        database_url=url,
        demo_scale=os.environ.get("DEMO_SCALE", demo.get("scale", "medium")),
        demo_seed=int(os.environ.get("DEMO_SEED", demo.get("seed", 42))),
        etl_chunk_rows=int(os.environ.get("ETL_CHUNK_ROWS", etl.get("chunk_rows", 200_000))),
        etl_max_reject_share=float(os.environ.get("ETL_MAX_REJECT_SHARE", etl.get("max_reject_share", 0.05))),
        sales_email=os.environ.get("SALES_EMAIL") or notices.get("sales_email") or "sales@example.com",
        logistics_email=os.environ.get("LOGISTICS_EMAIL") or notices.get("logistics_email") or "logistics@example.com",
        eta_tolerance_days=int(os.environ.get("ETA_TOLERANCE_DAYS", backorders.get("eta_tolerance_days", 2))),
        default_transfer_days=float(
            os.environ.get("DEFAULT_TRANSFER_DAYS", backorders.get("default_transfer_days", 3.0))
        ),
        backorder_priority=_names(os.environ.get("BACKORDER_PRIORITY", backorders.get("priority")))
        or ("priority", "tier", "order_date", "order_no"),
    )


def _names(value: str | list | tuple | None) -> tuple[str, ...]:
    """A comma-separated text (environment) or a TOML list as a tuple of trimmed, non-empty names."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(item).strip() for item in items if str(item).strip())
