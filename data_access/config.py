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
    url = os.environ.get("DATABASE_URL") or database.get("url") or ""
    if not url:
        url = sqlite_url(os.environ.get("SQLITE_PATH") or database.get("sqlite_path", "var/inventory.sqlite"))
    return Settings(
        database_url=url,
        demo_scale=os.environ.get("DEMO_SCALE", demo.get("scale", "medium")),
        demo_seed=int(os.environ.get("DEMO_SEED", demo.get("seed", 42))),
        etl_chunk_rows=int(os.environ.get("ETL_CHUNK_ROWS", etl.get("chunk_rows", 200_000))),
        etl_max_reject_share=float(os.environ.get("ETL_MAX_REJECT_SHARE", etl.get("max_reject_share", 0.05))),
    )
