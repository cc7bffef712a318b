"""Command line of the analytics: ``python -m analytics report`` and ``python -m analytics valuation``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from analytics.report import as_table, headline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="the headline KPI figures")
    report.add_argument("--database-url", help="SQLAlchemy URL (default: DATABASE_URL, config.toml, embedded SQLite)")
    report.add_argument("--as-of", type=dt.date.fromisoformat, help="last day counted (default: last date in the data)")
    report.add_argument("--format", choices=("json", "table"), default="json")
    valuation = commands.add_parser("valuation", help="inventory valuation and COGS per period, from the ledger")
    valuation.add_argument("--database-url", help="SQLAlchemy URL (default: DATABASE_URL, config.toml, embedded SQLite)")
    valuation.add_argument("--as-of", type=dt.date.fromisoformat, help="value the stock at the end of this day")
    valuation.add_argument("--method", choices=("fifo", "average", "standard"), default="fifo")
    valuation.add_argument("--freq", choices=("M", "Q", "Y"), help="COGS and closing value per period instead")
    valuation.add_argument("--by-location", action="store_true", help="value each location apart")
    valuation.add_argument("--out", type=Path, help="write .csv or .xlsx instead of printing")
    args = parser.parse_args(argv)

    # The database is reached through the data layer; analytics itself stays pure.
    from data_access.engine import make_engine
    from data_access.queries import headline_inputs, last_data_date

    engine = make_engine(args.database_url)
    as_of = args.as_of or last_data_date(engine)
    if as_of is None:
        print("error: the database holds no orders, shipments or movements yet (run: python -m etl demo)", file=sys.stderr)
        return 1
    if args.command == "valuation":
        return _valuation(engine, as_of, args)
    figures = headline(headline_inputs(engine, as_of))
    if args.format == "json":
        print(json.dumps({"as_of": as_of.isoformat(), **figures}, indent=2))
    else:
        print(as_table(figures, as_of.isoformat()))
    return 0


def _valuation(engine, as_of: dt.date, args: argparse.Namespace) -> int:
    """Print or write the valuation table finance exports."""
    from analytics.valuation import valuation_table
    from data_access.frames import ledger, standard_costs

    standard = standard_costs(engine) if args.method == "standard" else None
    table = valuation_table(ledger(engine, as_of), as_of, args.method, standard, by_location=args.by_location,
                            freq=args.freq)
    if args.out:
        if args.out.suffix.lower() == ".xlsx":
            table.to_excel(args.out, index=False, sheet_name=f"{args.method} {as_of}")
        else:
            table.to_csv(args.out, index=False)
        print(f"wrote {len(table):,} rows to {args.out}")
    else:
        print(table.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    totals = table[["cogs", "ending_value"]].sum() if not args.freq else table[["cogs"]].sum()
    print(f"{args.method} as of {as_of}: " + ", ".join(f"{k} {v:,.2f}" for k, v in totals.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
