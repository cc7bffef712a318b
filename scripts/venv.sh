# Shared by start.sh and test.sh: a virtual environment in .venv with the given requirements.
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

ensure_venv() {
    local requirements="$1"
    if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
        echo "Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1))" >&2
        exit 1
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
            # Debian's python3 ships venv separately.
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
                apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
                "$PYTHON" -m venv "$VENV"
            else
                echo "Cannot create a virtual environment: install python3-venv (sudo apt-get install python3-venv)" >&2
                exit 1
            fi
        fi
    fi
    VENV_STAMP="$VENV/.installed-$(cat "$requirements" requirements.txt | sha256sum | cut -c1-16)"
    local stamp="$VENV_STAMP"
    if [ ! -f "$stamp" ]; then
        # uv resolves and unpacks in parallel: a fresh install takes about 10 s instead of pip's 90 s.
        # pip stays the fallback (no uv wheel for this platform, or a registry only pip is set up for).
        if ! { "$VENV/bin/python" -m pip install --quiet uv \
               && "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" -r "$requirements"; }; then
            echo "uv could not install the requirements; using pip" >&2
            "$VENV/bin/python" -m pip install --quiet --upgrade pip
            "$VENV/bin/python" -m pip install --quiet -r "$requirements"
        fi
        touch "$stamp"
    fi
}
