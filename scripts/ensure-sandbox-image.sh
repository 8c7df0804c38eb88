#!/usr/bin/env bash
# Make sure the sandbox image for the current sandbox/ inputs is in the local Docker engine.
#
#   scripts/ensure-sandbox-image.sh            # offline build (debootstrap + PyPI), the CI default
#   scripts/ensure-sandbox-image.sh --online   # build the base from sandbox/Dockerfile
#   scripts/ensure-sandbox-image.sh --force    # rebuild even if the tags exist
#
# Starts a Docker engine first if none answers (scripts/ensure-docker.sh). Cheap when nothing
# changed: the image is tagged by a hash of its inputs and an existing tag is not rebuilt.
# Unless --online is given the offline path is used, so CI never probes a container registry and builds
# the same image on every host. Prints the image reference on its last line.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

"$ROOT/scripts/ensure-docker.sh"

if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"
else PY=$(command -v python3 || command -v python)
fi

case " $* " in
    *" --online "* | *" --offline "*) ;;
    *) set -- --offline "$@" ;;
esac
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" -m guru_mcp.sandbox_image "$@"
