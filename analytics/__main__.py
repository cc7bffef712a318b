"""Command line of the analytics: ``python -m analytics report``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from analytics.report import as_table, headline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="the headline KPI figures")
    report.add_argument("--database-url", help="SQLAlchemy URL (default: DATABASE_URL, config.toml, embedded SQLite)")
    report.add_argument("--as-of", type=dt.date.fromisoformat, help="last day counted (default: last date in the data)")
    report.add_argument("--format", choices=("json", "table"), default="json")
    args = parser.parse_args(argv)

    # The database is reached through the data layer; analytics itself stays pure.
    from data_access.engine import make_engine
    from data_access.queries import headline_inputs, last_data_date

    engine = make_engine(args.database_url)
    as_of = args.as_of or last_data_date(engine)
    if as_of is None:
        print("error: the database holds no orders, shipments or movements yet (run: python -m etl demo)", file=sys.stderr)
        return 1
    figures = headline(headline_inputs(engine, as_of))
    if args.format == "json":
        print(json.dumps({"as_of": as_of.isoformat(), **figures}, indent=2))
    else:
        print(as_table(figures, as_of.isoformat()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
