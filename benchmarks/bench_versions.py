"""Action versions: what a versioned change costs, and reading a long history.

In-process on a throw-away SQLite home, through the same services as the admin tools and the CLI:

- update     `versions.update` with a one-field merge patch (diff, validation, save with a version row);
- dry run    the same patch with `dry_run` (diff and validation only, nothing written);
- disable    `Catalog.set_enabled` (state: no version row) followed by enabling again, per pair;
- history    `versions.history` of an action with `--versions` versions;
- diff       `versions.diff_versions` of its first and latest version.

    python -m benchmarks -k versions [-- --iterations 200 --versions 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

from benchmarks._util import LOOPBACK, guru_settings, header, iterations_arg, measure, table
from guru_mcp import versions
from guru_mcp.app import open_app
from guru_mcp.models import Caller, parse_spec

GURU = "default"
ADMIN = Caller(key="bench", email="bench@example.com", is_admin=True, guru=GURU)


def _action(name: str) -> dict:
    return {
        "name": name,
        "action_type": "API_CALL",
        "parameters": [{"name": "n", "type": "number", "description": "How many."}],
        "config": {
            "endpoint": f"http://{LOOPBACK}:9/{name}",
            "method": "POST",
            "body": {"n": "{n}"},
            "timeout": 5,
        },
    }


async def main(iterations: int, history_length: int) -> None:
    header(f"versions: {iterations} calls per variant, history of {history_length} versions")
    with tempfile.TemporaryDirectory() as tmp:
        async with open_app(guru_settings(Path(tmp)), background=False, sandbox=False) as app:
            for name in ("edited", "toggled", "long"):
                await app.catalog.save_spec(GURU, parse_spec(_action(name)), actor=ADMIN.who)
            for i in range(history_length - 1):
                await versions.update(app, GURU, "long", {"title": f"take {i}"}, ADMIN)
            counter = iter(range(10**9))

            async def update() -> None:
                await versions.update(
                    app, GURU, "edited", {"config": {"timeout": 1 + next(counter) % 50}}, ADMIN
                )

            async def dry_run() -> None:
                await versions.update(app, GURU, "edited", {"config": {"timeout": 99}}, ADMIN, dry_run=True)

            async def toggle() -> None:
                await app.catalog.set_enabled(GURU, "toggled", False)
                await app.catalog.set_enabled(GURU, "toggled", True)

            async def history() -> None:
                await versions.history(app, GURU, "long")

            async def diff() -> None:
                await versions.diff_versions(app, GURU, "long", 1)

            results = await measure(
                [
                    ("update (one-field merge patch)", update),
                    ("update, dry run", dry_run),
                    ("disable + enable (state)", toggle),
                    (f"history of {history_length}", history),
                    ("diff v1..latest", diff),
                ],
                iterations=iterations,
                warmup=5,
                block=20,
            )
            print(table(list(results.items()), title="per call"))
            toggled = await app.catalog.get(GURU, "toggled")
            print(f"versions made by {iterations + 5} disable+enable pairs: {toggled.version - 1}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    iterations_arg(parser, 100)
    parser.add_argument(
        "--versions", type=int, default=1000, help="length of the long history (default 1000)"
    )
    args = parser.parse_args()
    anyio.run(main, args.iterations, args.versions)
