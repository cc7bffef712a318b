"""Command line of the jobs: ``python -m jobs forecast|replenish|backorders|notify``.

    python -m jobs forecast [--database-url URL] [--horizon 13] [--as-of DATE]
    python -m jobs replenish [--database-url URL] [--as-of DATE] [--service-level 0.95] [--policy sS]
    python -m jobs backorders [--database-url URL] [--as-of DATE] [--priority KEYS] [--tolerance-days N] [--no-notify]
    python -m jobs notify [--database-url URL] [--smtp-url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from tqdm import tqdm

from analytics.replenishment import POLICIES
from data_access.config import load_settings
from data_access.engine import make_engine


class _Bar:
    """A tqdm bar driven by a (fraction, message) progress callback."""

    def __init__(self, title: str) -> None:
        self.bar = tqdm(total=1000, desc=title, unit="‰", bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
                        file=sys.stderr)

    def __call__(self, fraction: float, message: str) -> None:
        self.bar.n = int(fraction * 1000)
        self.bar.set_postfix_str(message[:60], refresh=True)

    def close(self) -> None:
        self.bar.close()


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run one job; returns the exit code."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database-url", help="SQLAlchemy URL (default: DATABASE_URL, config.toml, embedded SQLite)")
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p_run = commands.add_parser("replenish", parents=[common], help="propose purchase and production orders")
    p_run.add_argument("--as-of", type=dt.date.fromisoformat, help="day to plan for (default: last day of data)")
    p_run.add_argument("--service-level", type=float, default=0.95, help="cycle service level α (default 0.95)")
    p_run.add_argument("--policy", default="sS", help=f"one of {sorted(POLICIES)} or an alias (default sS)")
    p_run.add_argument("--no-notify", action="store_true", help="do not enqueue low-stock e-mails")
    p_forecast = commands.add_parser("forecast", parents=[common], help="forecast weekly demand and store the run")
    p_forecast.add_argument("--horizon", type=int, default=13, help="weeks ahead (default 13)")
    p_forecast.add_argument("--as-of", type=dt.date.fromisoformat,
                            help="forecast from the history up to this day (default: last day of data); a run "
                                 "as of 13 weeks ago lets the Demand view measure accuracy, statistical and final")
    p_back = commands.add_parser("backorders", parents=[common],
                                 help="allocate receipts to backorders, store ETAs, queue notices")
    p_back.add_argument("--as-of", type=dt.date.fromisoformat, help="day to plan from (default: last day of data)")
    p_back.add_argument("--priority", help="comma-separated allocation order, e.g. priority,tier,order_date "
                        "(default: BACKORDER_PRIORITY or [backorders] priority)")
    p_back.add_argument("--tolerance-days", type=int, help="ETA moves up to this many days are not announced "
                        "(default: ETA_TOLERANCE_DAYS or [backorders] eta_tolerance_days)")
    p_back.add_argument("--no-notify", action="store_true", help="store ETAs without queueing notices")
    p_notify = commands.add_parser("notify", parents=[common], help="send pending notifications over SMTP")
    p_notify.add_argument("--smtp-url", help="smtp://host:port or smtps://user:pass@host:port (default: SMTP_URL)")
    p_notify.add_argument("--limit", type=int, default=100, help="messages per drain (default 100)")
    args = parser.parse_args(argv)

    engine = make_engine(args.database_url or load_settings().database_url)
    try:
        if args.command == "replenish":
            from jobs.replenish import run_replenishment

            bar = _Bar("replenishment")
            try:
                result = run_replenishment(engine, as_of=args.as_of, policy=args.policy,
                                           service_level=args.service_level, progress=bar,
                                           notify=not args.no_notify)
            finally:
                bar.close()
            print(result.summary())
            return 0
        if args.command == "backorders":
            from jobs.backorders import run_backorders

            bar = _Bar("backorders")
            priority = [k.strip() for k in args.priority.split(",") if k.strip()] if args.priority else None
            try:
                backorder_run = run_backorders(engine, as_of=args.as_of, progress=bar, notify=not args.no_notify,
                                               priority=priority, tolerance_days=args.tolerance_days)
            finally:
                bar.close()
            print(backorder_run.summary())
            return 0
        if args.command == "forecast":
            from jobs.forecast import run_forecast

            bar = _Bar("forecast")
            try:
                run = run_forecast(engine, horizon=args.horizon, as_of=args.as_of, progress=bar)
            finally:
                bar.close()
            print(run.summary())
            return 0
        from jobs.notify import send_pending

        result = send_pending(engine, smtp_url=args.smtp_url, limit=args.limit)
        print(result)
        return 0 if result.failed == 0 and result.gave_up == 0 else 1
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
