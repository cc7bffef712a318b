"""Command line of the ETL: ``python -m etl migrate|demo|load|northwind|init|docs``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from tqdm import tqdm

from data_access.config import load_settings
from data_access.engine import make_engine
from data_access.migrate import upgrade
from etl import demo
from etl.bootstrap import ensure_ready, load_demo
from etl.errors import LoadError

if TYPE_CHECKING:  # the loader imports great-expectations (≈3 s): imported by the commands that load
    from etl.loader import LoadResult

DOCS_PATH = Path(__file__).resolve().parent.parent / "docs" / "interchange.md"


class _Bar:
    """A tqdm bar driven by the loader's (fraction, message) progress callback."""

    def __init__(self, title: str) -> None:
        self.bar = tqdm(total=1000, desc=title, unit="‰", bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def __call__(self, fraction: float, message: str) -> None:
        self.bar.n = int(fraction * 1000)
        self.bar.set_postfix_str(message[:60], refresh=True)

    def close(self) -> None:
        self.bar.close()


def _run_load(action, title: str) -> LoadResult:
    bar = _Bar(title)
    try:
        result = action(bar)
    finally:
        bar.close()
    print(result.summary())
    return result


#: Loaded entities that move backorders and their ETAs: supply (a purchase or production order placed, rescheduled
#: or received), demand (an order line placed, changed or cancelled), shipments and stock movements.
ETA_INPUTS = frozenset({"purchase_order_lines", "production_orders", "sales_order_lines", "shipments",
                        "inventory_movements"})


def allocation_inputs_changed(result: LoadResult) -> list[str]:
    """The ``ETA_INPUTS`` entities whose rows a load inserted or changed (an unchanged or skipped file: none)."""
    return sorted({str(getattr(f, "entity", "")) for f in result.files
                   if getattr(f, "entity", None) in ETA_INPUTS
                   and (getattr(f, "inserted", 0) or getattr(f, "updated", 0))})


def reestimate_backorders(engine: Engine, changed: list[str]) -> int:
    """After a load that changed supply, demand, shipments or stock: the backorder run (``jobs.backorders``) re-estimates
    every backorder's ETA and queues the notices (an ETA moved beyond the tolerance, a line newly backordered).
    The load is already committed; a failing run is reported (exit code 1) and can be repeated with
    ``python -m jobs backorders``."""
    from jobs.backorders import run_backorders

    print(f"{' and '.join(changed)} changed: re-estimating backorder ETAs")
    bar = _Bar("backorder ETAs")
    try:
        result = run_backorders(engine, progress=bar, user="etl-load")
    except Exception as exc:  # the load stands; say so and how to retry
        bar.close()
        print(f"\nerror: the load succeeded, but re-estimating backorder ETAs failed: {exc}\n"
              "run `python -m jobs backorders` once the cause is fixed", file=sys.stderr)
        return 1
    bar.close()
    print(result.headline())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl", description=__doc__)
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: DATABASE_URL, config.toml, embedded SQLite)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create or upgrade the reporting schema")
    p_demo = commands.add_parser("demo", help="generate and load the demo company")
    p_demo.add_argument("--scale", choices=sorted(demo.SCALES), default="small")
    p_demo.add_argument("--seed", type=int, default=42)
    p_demo.add_argument("--end-date", type=dt.date.fromisoformat, default=demo.DEFAULT_END_DATE,
                        help=f"last day of history (default {demo.DEFAULT_END_DATE})")
    p_demo.add_argument("--out", type=Path, help="also keep the generated CSV files in this folder")
    p_load = commands.add_parser("load", help="load a folder of interchange CSV files (see docs/interchange.md)")
    p_load.add_argument("directory", type=Path)
    p_load.add_argument("--incremental", action="store_true", help="only what changed since the last run of this folder")
    p_load.add_argument("--max-reject-share", type=float, help="fail the run above this share of rejected rows")
    p_load.add_argument("--chunk-rows", type=int, help="rows read per chunk")
    p_load.add_argument("--no-backorders", action="store_true",
                        help="do not re-estimate backorder ETAs after a load that changed orders, shipments, stock or "
                             "supply (python -m jobs backorders does it later)")
    p_nw = commands.add_parser("northwind", help="load the Northwind ERP dump (a .sql file)")
    p_nw.add_argument("path", type=Path)
    commands.add_parser("init", help="migrate, and load the configured demo company into an empty database")
    commands.add_parser("docs", help="write docs/interchange.md from the format definition")
    commands.add_parser(
        "refresh", help="rebuild the derived order state and rollups (after writes that bypassed the loader)"
    )
    args = parser.parse_args(argv)

    if args.command == "docs":
        from etl.interchange import markdown

        DOCS_PATH.write_text(markdown() + "\n", encoding="utf-8")
        print(f"wrote {DOCS_PATH}")
        return 0
    settings = load_settings()
    engine = make_engine(args.database_url or settings.database_url)
    try:
        if args.command == "migrate":
            upgrade(engine)
            print("schema is up to date")
        elif args.command == "demo":
            upgrade(engine)
            _run_load(lambda bar: load_demo(engine, args.scale, args.seed, args.end_date, bar, args.out), "demo")
        elif args.command == "load":
            from etl.loader import load_directory

            upgrade(engine)
            result = _run_load(
                lambda bar: load_directory(
                    engine, args.directory, incremental=args.incremental, max_reject_share=args.max_reject_share,
                    chunk_rows=args.chunk_rows, progress=bar,
                ),
                args.directory.name,
            )
            changed = allocation_inputs_changed(result)
            if changed and not args.no_backorders:
                return reestimate_backorders(engine, changed)
        elif args.command == "northwind":
            from etl.northwind import load_northwind

            upgrade(engine)
            _run_load(lambda bar: load_northwind(engine, args.path, progress=bar), "northwind")
        elif args.command == "refresh":
            from data_access import derived

            upgrade(engine)
            started = time.perf_counter()
            with engine.begin() as connection:
                derived.refresh(connection)
                if connection.dialect.name == "postgresql":
                    for table in derived.TABLES:
                        connection.exec_driver_sql(f"ANALYZE {table.name}")
            print(f"derived order state rebuilt in {time.perf_counter() - started:.1f} s")
        elif args.command == "init":
            started = time.perf_counter()
            loaded = ensure_ready(engine, settings, progress=_Bar("first run"))
            print(("loaded the demo company" if loaded else "database ready") + f" in {time.perf_counter() - started:.1f} s")
    except LoadError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
