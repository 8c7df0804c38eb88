"""Bulk import, whole process: `guru-mcp actions import file.json` of N actions into an existing home.

Each run is a fresh `guru-mcp` process on a fresh copy of the same home (initialised once, empty
of actions), so the figure is what an operator waits for: interpreter start, imports, validation of
every action, and saving them. The document repeats the repository's example actions
(`actions/*.json`, agents left out) under numbered names: Python code and API calls, with secrets,
parameters and schedules, as real catalogs have them.

    python -m benchmarks -k import [-- --actions 1000 --iterations 5]
    python benchmarks/bench_import.py --guru-mcp /path/to/other/.venv/bin/guru-mcp   # another build

With `--guru-mcp` given twice, the two builds are run alternately (same machine, same moment):
that is how the README's before/after figures were taken.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._util import REPO, guru_command, guru_env, header, iterations_arg

TARGET_S = 1.5


def example_actions() -> list[dict[str, Any]]:
    """The repository's example actions that stand alone (no agents: their tools would be renamed)."""
    out = []
    for path in sorted((REPO / "actions").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for item in doc if isinstance(doc, list) else [doc]:
            if item.get("action_type") != "AGENT":
                out.append(item)
    return out


def document(n: int) -> list[dict[str, Any]]:
    """N valid actions: the examples again and again, each copy under its own name."""
    examples = example_actions()
    items = []
    for i in range(n):
        item = json.loads(json.dumps(examples[i % len(examples)]))
        item["name"] = f"{item['name'][:50]}_{i:05d}"
        item.pop("title", None)
        items.append(item)
    return items


def _run(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the child) and stdout of one command."""
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - started
    after = os.times()
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    iterations_arg(parser, 5)
    parser.add_argument("--actions", type=int, default=1000, help="actions in the document (default 1000)")
    parser.add_argument(
        "--guru-mcp",
        action="append",
        dest="builds",
        help="a guru-mcp executable to measure (repeatable; default: this environment's)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per import")
    args = parser.parse_args()
    builds = args.builds or [guru_command()]
    header(f"bulk import: {args.actions} actions, whole process, {args.iterations} fresh processes per build")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        doc = root / "actions.json"
        doc.write_text(json.dumps(document(args.actions)), encoding="utf-8")
        results: dict[str, list[tuple[float, float]]] = {b: [] for b in builds}
        for i in range(args.iterations):
            for build in builds:  # alternately: a busy moment costs every build alike
                home = root / f"home-{i}-{abs(hash(build))}"
                env = guru_env(home)
                _run([build, "init"], env, args.timeout)
                wall, cpu, out = _run([build, "actions", "import", str(doc)], env, args.timeout)
                created = sum(1 for line in out.splitlines() if line.strip().startswith("create "))
                if created != args.actions:
                    raise RuntimeError(f"{build}: {created} of {args.actions} actions were created")
                results[build].append((wall, cpu))
                shutil.rmtree(home, ignore_errors=True)
        print(f"{'build':<60} {'wall p50':>10} {'wall min':>10} {'CPU p50':>10}")
        for build, runs in results.items():
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            print(
                f"{build[-60:]:<60} {statistics.median(walls):>9.2f}s {min(walls):>9.2f}s"
                f" {statistics.median(cpus):>9.2f}s"
            )
        best = statistics.median(w for w, _ in results[builds[-1]])
        print(
            f"import of {args.actions} actions: {best:.2f} s (p50, {builds[-1][-40:]}); "
            f"target for 1,000: under {TARGET_S} s"
        )


if __name__ == "__main__":
    main()
