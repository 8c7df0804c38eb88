"""The peers' environment: a separate virtualenv per benchmark peer (FastMCP, llm-sandbox), pinned,
created and filled by the benchmark command itself. Peers are never package dependencies.

    python -m benchmarks.peer_env                 # make (or reuse) every peer's env; print the pythons
    python -m benchmarks.peer_env fastmcp         # just one
    python -m benchmarks.peer_env --check fastmcp # exit 0 if ready, 3 if not (nothing installed)

In code:

    from benchmarks.peer_env import PeerEnvUnavailable, peer_python, peer_popen
    python = peer_python("fastmcp")          # installs on first use; raises PeerEnvUnavailable
    proc = peer_popen("fastmcp", ["-c", "import fastmcp; print(fastmcp.__version__)"], stdout=PIPE)

Where: `<repo>/.bench-env/<peer>/` (git-ignored), or `$GURU_MCP_BENCH_ENV/<peer>/`. One env per peer,
so peers' dependencies never conflict and one peer's install never waits for another's. Installs go
through pip (PyPI or the machine's configured index) under a file lock, so concurrent benchmarks (or
smoke tests) share one install; a stamp file names the exact pin, so a changed pin reinstalls.
Every install and every probe has a deadline.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
import time
import venv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

PEERS: dict[str, tuple[str, str]] = {
    # peer name -> (pip requirement, module whose import proves the install)
    "fastmcp": ("fastmcp==4.1.6", "fastmcp"),
    "llm-sandbox": ("llm-sandbox[docker]==0.3.46", "llm_sandbox"),
}
INSTALL_TIMEOUT = 900.0
LOCK_TIMEOUT = INSTALL_TIMEOUT + 60.0


class PeerEnvUnavailable(RuntimeError):
    """The peer's environment could not be made (no index reachable, install failed, ...). The message
    says why and what to try; benchmarks print it and measure our side alone."""


def root() -> Path:
    configured = os.environ.get("GURU_MCP_BENCH_ENV")
    return Path(configured).expanduser().resolve() if configured else REPO / ".bench-env"


def env_dir(peer: str) -> Path:
    _known(peer)
    return root() / peer


def _known(peer: str) -> None:
    if peer not in PEERS:
        raise KeyError(f"unknown peer {peer!r}; known: {', '.join(sorted(PEERS))}")


def _python_of(env: Path) -> Path:
    return env / "bin" / "python"


def _stamp(env: Path, requirement: str) -> Path:
    return env / f".installed-{requirement.replace('/', '_')}"


def is_ready(peer: str) -> bool:
    """True when the peer's env exists with exactly the pinned requirement installed."""
    env = env_dir(peer)
    return _python_of(env).exists() and _stamp(env, PEERS[peer][0]).exists()


def peer_python(peer: str, *, quiet: bool = False) -> Path:
    """The peer env's python, creating the env and installing the pinned requirement if needed."""
    env = env_dir(peer)
    requirement, module = PEERS[peer]
    if is_ready(peer):
        return _python_of(env)
    env.parent.mkdir(parents=True, exist_ok=True)
    with _locked(env.parent / f"{peer}.lock"):
        if is_ready(peer):  # another process installed it while we waited
            return _python_of(env)
        _log(f"[peer-env] making {env} with {requirement} (once; later runs reuse it)", quiet)
        started = time.monotonic()
        for old in env.glob(".installed-*") if env.exists() else ():
            old.unlink()
        if not _python_of(env).exists():
            try:
                venv.EnvBuilder(with_pip=True, clear=True).create(env)
            except (OSError, subprocess.CalledProcessError) as exc:
                raise PeerEnvUnavailable(f"cannot create the peer venv {env}: {exc}") from exc
        _run(
            [str(_python_of(env)), "-m", "pip", "install", "-q", "--disable-pip-version-check", requirement],
            f"pip install {requirement} into {env} failed (is PyPI or the configured index reachable?)",
        )
        _run(
            [str(_python_of(env)), "-c", f"import {module}"],
            f"{requirement} installed into {env} but `import {module}` fails",
            timeout=120.0,
        )
        _stamp(env, requirement).touch()
        _log(f"[peer-env] {peer} ready in {time.monotonic() - started:.0f} s", quiet)
    return _python_of(env)


def peer_environ(**extra: str) -> dict[str, str]:
    """Our environment minus what would point a peer's python at our packages (PYTHONPATH, ...)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def peer_popen(peer: str, args: Sequence[str], **popen: Any) -> subprocess.Popen[Any]:
    """Start `<peer env python> *args` (a script path or `-c`/`-m`) with `peer_environ()`, so the
    peer sees only its own packages."""
    python = peer_python(peer)
    env = peer_environ(**(popen.pop("env", None) or {}))
    return subprocess.Popen([str(python), *args], env=env, **popen)


def peer_version(peer: str) -> str:
    """The installed version of the peer's distribution (for the benchmark's header)."""
    requirement, _ = PEERS[peer]
    dist = requirement.split("==")[0].split("[")[0]
    done = subprocess.run(
        [
            str(peer_python(peer)),
            "-c",
            f"import importlib.metadata as m; print(m.version({dist!r}))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip() or "?"


def _run(cmd: list[str], message: str, timeout: float = INSTALL_TIMEOUT) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise PeerEnvUnavailable(f"{message}: no answer within {timeout:g} s") from exc
    except OSError as exc:
        raise PeerEnvUnavailable(f"{message}: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PeerEnvUnavailable(f"{message}: {' / '.join(tail) or f'exit {done.returncode}'}")


class _locked:
    """An exclusive flock on `path`, waited for at most LOCK_TIMEOUT seconds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        stop_at = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > stop_at:
                    os.close(self.fd)
                    raise PeerEnvUnavailable(
                        f"another process holds {self.path} for more than {LOCK_TIMEOUT:g} s"
                    ) from None
                time.sleep(0.5)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _log(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peer_env", description=__doc__.split("\n")[0])
    parser.add_argument("peers", nargs="*", help=f"peers (default all: {', '.join(PEERS)})")
    parser.add_argument("--check", action="store_true", help="only say whether ready (exit 3 if not)")
    args = parser.parse_args(argv)
    peers = args.peers or list(PEERS)
    for peer in peers:
        if peer not in PEERS:
            print(f"unknown peer {peer!r}; use one of: {', '.join(PEERS)}", file=sys.stderr)
            return 2
    if args.check:
        missing = [p for p in peers if not is_ready(p)]
        for peer in peers:
            print(f"{peer}: {'ready' if peer not in missing else 'not installed'} ({env_dir(peer)})")
        return 3 if missing else 0
    code = 0
    for peer in peers:
        try:
            print(f"{peer} {PEERS[peer][0]}: {peer_python(peer)}")
        except PeerEnvUnavailable as exc:
            print(f"{peer}: unavailable: {exc}", file=sys.stderr)
            code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
