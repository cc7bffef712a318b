#!/usr/bin/env bash
# Install and start the app on the embedded SQLite default (filled with the demo company on first run).
# Usage: bash scripts/start.sh            (DATABASE_URL=postgresql+psycopg2://... to use PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
ensure_venv requirements.txt
if [ ! -f "$VENV_STAMP.precompiled" ]; then
    # First start after an install: compile what the load and the first page import, on the other core.
    { "$VENV/bin/python" scripts/precompile.py >/dev/null 2>&1 && touch "$VENV_STAMP.precompiled"; } &
fi
echo "Preparing the database (first run: creates it and loads the demo company)…"
"$VENV/bin/python" -m etl init
exec "$VENV/bin/streamlit" run app.py --server.port "${PORT:-8501}" --server.address "${ADDRESS:-0.0.0.0}"
