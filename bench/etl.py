"""ETL benchmark: our validated, upserting load against a plain COPY of the same files.

Usage: python bench/etl.py --scale large [--postgres postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]

Generates the demo company's interchange CSV files (kept in var/bench-<scale>), then in one
run: (1) loads them with ``etl.loader.load_directory`` into a fresh PostgreSQL database,
(2) COPYs the same files into plain text tables of another fresh database, and reports
rows per second, the ratio (for the whole load, and for the files alone before the derived
snapshots and order state), the time of each phase, and the loader's peak memory (max RSS).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)  # this file is named etl.py: import the etl package, not itself

from sqlalchemy import create_engine, text  # noqa: E402

from data_access.engine import make_engine  # noqa: E402
from data_access.migrate import upgrade  # noqa: E402
from etl import demo  # noqa: E402
from etl.interchange import ENTITIES  # noqa: E402
from etl.loader import load_directory  # noqa: E402

#: The loader's progress messages that start its phases after the files: snapshots, then the derived state.
PHASES = ("rebuilding inventory snapshots", "rebuilding the order state")


def _database(admin_url: str, name: str | None = None) -> tuple[str, callable]:
    name = name or f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return admin_url.rsplit("/", 1)[0] + f"/{name}", drop


def raw_copy(url: str, folder: Path) -> tuple[int, float]:
    """COPY every file into a text table of its own; return rows and seconds."""
    engine = create_engine(url)
    rows = 0
    started = time.perf_counter()
    with engine.begin() as connection:
        cursor = connection.connection.dbapi_connection.cursor()
        for entity in ENTITIES:
            path = folder / entity.file_name
            if not path.exists():
                continue
            with path.open(encoding="utf-8", newline="") as handle:
                header = next(csv.reader(handle))
            columns = ", ".join(f'"{c}" text' for c in header)
            cursor.execute(f'CREATE TABLE "raw_{entity.name}" ({columns})')
            with path.open(encoding="utf-8") as handle:
                cursor.copy_expert(f'COPY "raw_{entity.name}" FROM STDIN WITH (FORMAT csv, HEADER true)', handle)
            rows += cursor.rowcount
    return rows, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="large", choices=sorted(demo.SCALES))
    parser.add_argument("--postgres", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", metavar="NAME", help="keep the loaded database under this name (for report timings)")
    args = parser.parse_args()
    folder = ROOT / "var" / f"bench-{args.scale}"
    if not (folder / "sales_order_lines.csv").exists():
        # In a child process, so the peak memory reported below is the loader's, not the generator's.
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"from etl import demo; demo.write(demo.generate({args.scale!r}, 42, "
                        f"demo.DEFAULT_END_DATE), __import__('pathlib').Path({str(folder)!r}))"],
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
        print(f"generated {args.scale} CSVs in {time.perf_counter() - started:.1f} s")
    size = sum(p.stat().st_size for p in folder.glob("*.csv")) / 1e6

    url, drop = _database(args.postgres)
    try:
        copied, copy_seconds = raw_copy(url, folder)
    finally:
        drop()
    url, drop = _database(args.postgres, args.keep)
    try:
        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        phases: dict[str, float] = {}

        def progress(_fraction: float, message: str) -> None:
            for phase in PHASES:
                if message.startswith(phase) and phase not in phases:
                    phases[phase] = time.perf_counter() - started

        result = load_directory(engine, folder, today=dt.date.today(), progress=progress)
        load_seconds = time.perf_counter() - started
        engine.dispose()
    finally:
        if not args.keep:
            drop()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"files: {size:,.0f} MB, {copied:,} rows")
    print(f"raw COPY:  {copy_seconds:8.1f} s  {copied / copy_seconds:>12,.0f} rows/s")
    print(f"our load:  {load_seconds:8.1f} s  {result.rows_read / load_seconds:>12,.0f} rows/s "
          f"(validated, upserted, snapshots rebuilt; {result.rows_rejected} rejects)")
    print(f"ratio (our speed / COPY speed): {(result.rows_read / load_seconds) / (copied / copy_seconds):.2f}")
    files_done = phases.get(PHASES[0], load_seconds)
    print(f"  files read, validated, staged, checked and upserted: {files_done:8.1f} s "
          f"(ratio {(result.rows_read / files_done) / (copied / copy_seconds):.2f})")
    snapshots_done = phases.get(PHASES[1], load_seconds)
    print(f"  daily inventory snapshots:                           {snapshots_done - files_done:8.1f} s")
    print(f"  derived order state and rollups, commit:             {load_seconds - snapshots_done:8.1f} s")
    print(f"peak memory of the process (max RSS): {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
