"""Mistakes caught when an action is saved, each said with what to do: the secret naming rule, secrets
a Python action reads without declaring them, and "did you mean ...?" for names that almost match.

Pure functions over an action and the names that exist; `Catalog.check` calls them. The rule that a
secret reaches an action at run time is not decided here (see `catalog.secret_candidates`).
"""

from __future__ import annotations

import ast
import difflib
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from guru_mcp.code_scan import EnvRead, scan

__all__ = [
    "EnvRead",
    "Findings",
    "check_python_reads",
    "did_you_mean",
    "env_reads",
    "looks_like_secret",
    "missing_secret_hint",
    "secret_name_problem",
    "unknown_placeholder",
]

SECRET_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
SECRET_NAME_RULE = (
    "secret names are upper case: letters A-Z, digits and _, not starting with a digit, at most 128"
)

# Variables a container has on its own: reading them is not reading a secret.
_PLATFORM_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "HOSTNAME",
        "USER",
        "LOGNAME",
        "SHELL",
        "PWD",
        "TERM",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "MPLCONFIGDIR",
        "MPLBACKEND",
        "OMP_NUM_THREADS",
    }
)
_PLATFORM_PREFIXES = ("PYTHON", "LC_", "GURU_", "SSL_", "REQUESTS_", "CURL_", "XDG_")


def secret_name_problem(name: str) -> str | None:
    """Why `name` cannot be a secret's name (with the name it could be), or None."""
    if SECRET_NAME_RE.fullmatch(name):
        return None
    fixed = re.sub(r"[^A-Z0-9_]", "_", name.upper())
    fixed = ("_" + fixed if fixed[:1].isdigit() else fixed)[:128]
    hint = f" (e.g. {fixed!r})" if fixed and SECRET_NAME_RE.fullmatch(fixed) else ""
    return f"{name!r}: {SECRET_NAME_RULE}{hint}"


def looks_like_secret(name: str) -> bool:
    """An UPPER_CASE name that is not one of the container's own variables."""
    return (
        SECRET_NAME_RE.fullmatch(name) is not None
        and name not in _PLATFORM_NAMES
        and not name.startswith(_PLATFORM_PREFIXES)
    )


def did_you_mean(name: str, known: Iterable[str], shared: frozenset[str] = frozenset()) -> str:
    """` (did you mean X?)` for the nearest name of `known` and `shared`, or ``. `shared` holds names
    that many calls have in common (the built-in variables and a guru's secrets, for every action of
    an import): the nearest of them to each name is remembered, so only `known` is searched each time.
    The same answer as `difflib.get_close_matches(name, ..., n=1, cutoff=0.75)` over all of them."""
    own = set(known) - shared - {name}
    best = _closest(name, own) if own else None
    from_shared = _closest_shared(name, shared)
    if from_shared is not None and (best is None or from_shared > best):
        best = from_shared
    return f" (did you mean {best[1]}?)" if best else ""


def _closest(word: str, names: Iterable[str]) -> tuple[float, str] | None:
    """The best (ratio, name) at or above the cutoff: `difflib.get_close_matches`'s loop, n=1."""
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(word)
    best: tuple[float, str] | None = None
    for x in names:
        matcher.set_seq1(x)
        if matcher.real_quick_ratio() >= _CUTOFF and matcher.quick_ratio() >= _CUTOFF:
            scored = (matcher.ratio(), x)
            if scored[0] >= _CUTOFF and (best is None or scored > best):
                best = scored
    return best


@functools.lru_cache(maxsize=1024)
def _closest_shared(word: str, names: frozenset[str]) -> tuple[float, str] | None:
    return _closest(word, names - {word}) if names else None


_CUTOFF = 0.75


def env_reads(code: str | ast.AST) -> list[EnvRead]:
    """Every literal read of an environment variable: `os.environ['X']`, `os.environ.get('X'[, d])`,
    `os.getenv('X'[, d])`, `getenv('X')`. `code` is the source or its parsed tree (then it is not
    parsed again). Empty for code that does not parse."""
    if isinstance(code, str):
        try:
            tree: ast.AST = ast.parse(code)
        except (SyntaxError, ValueError):
            return []
    else:
        tree = code
    return scan(tree).reads


@dataclass
class Findings:
    errors: list[str]
    warnings: list[str]


def check_python_reads(
    reads: Iterable[EnvRead],
    *,
    params: set[str],
    builtins: Iterable[str],
    declared: set[str],
    existing: set[str],
    shared: frozenset[str] = frozenset(),
) -> Findings:
    """Secrets the code reads (`reads`, from `env_reads`) without declaring them: a warning when the
    secret exists (declare it), an error when nothing of that name exists (unless the read has a
    fallback: then a warning)."""
    errors: list[str] = []
    warnings: list[str] = []
    given = params | set(builtins) | declared
    known = given | existing
    seen: set[str] = set()
    for read in reads:
        name = read.name
        if name in seen or name in given or not looks_like_secret(name):
            continue
        seen.add(name)
        hint = did_you_mean(name, known, shared)
        if name in existing:
            warnings.append(
                f"line {read.line} reads the secret {name} without declaring it, so the action will not receive "
                'it: add it to "secrets"'
            )
        elif read.has_fallback:
            warnings.append(
                f"line {read.line} reads {name}, which is no parameter, declared secret or built-in variable"
                f"{hint}; it will always get its fallback"
            )
        else:
            errors.append(
                f"line {read.line} reads {name}, which is no parameter, declared secret or built-in variable, "
                f"and no secret of that name exists{hint}; if it is a secret still to be set, list it in "
                '"secrets" (the action is stored disabled until it is set)'
            )
    return Findings(errors, warnings)


def unknown_placeholder(
    name: str, where: str, known: Iterable[str], shared: frozenset[str] = frozenset()
) -> str:
    """The error for a `{name}` that names nothing (a lower-case name cannot be a secret)."""
    return f"{{{name}}} names no parameter, built-in variable or secret{did_you_mean(name, known, shared)}"


def missing_secret_hint(
    name: str, where: str, known: Iterable[str], shared: frozenset[str] = frozenset()
) -> str | None:
    """A warning for a secret that does not exist yet but nearly matches one that does, else None."""
    hint = did_you_mean(name, known, shared)
    if not hint:
        return None
    return f"{where}: no secret {name} exists{hint}; the action stays disabled until a secret {name} is set"
