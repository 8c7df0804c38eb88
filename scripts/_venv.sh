# Sourced by scripts/serve and scripts/test: make .venv with the package installed (quiet when current).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv" >&2
    "${PYTHON:-python3}" -m venv .venv
fi
EXTRAS='test,postgres'
stamp=.venv/.installed-$( (cat pyproject.toml; echo "$EXTRAS") | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
    echo "[setup] installing guru-mcp and its test dependencies into .venv" >&2
    .venv/bin/pip install -q --disable-pip-version-check -e ".[$EXTRAS]" >&2
    rm -f .venv/.installed-* && touch "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
