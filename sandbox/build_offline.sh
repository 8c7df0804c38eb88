#!/usr/bin/env bash
# Offline build of the guru-mcp sandbox BASE image, for Docker hosts that reach no container registry.
#
#   sudo sandbox/build_offline.sh guru-mcp-sandbox-base:<tag>
#
# Needs root, debootstrap, a running Docker engine, a Debian mirror and PyPI (or the pip index the
# host's pip is configured with). Never talks to a container registry. Steps:
#   1. debootstrap --variant=minbase trixie (Python 3.13) with python3, git, curl, ca-certificates;
#   2. (concurrently) the host's pip downloads cp313 manylinux wheels for requirements.txt;
#   3. the chroot's own python installs them (pip run from its wheel, nothing from the network);
#   4. non-root user `sandbox` (uid 10001), `python` -> python3, byte-code pre-compiled;
#   5. apt caches, docs, man pages, locales removed;
#   6. tar | docker import with the image's USER, WORKDIR and ENV.
# The result matches the Dockerfile build in what actions see: `python`/`python3` 3.13, the pinned
# libraries, git, curl, uid 10001, WORKDIR /tmp, HOME=/tmp.
#
# Environment knobs:
#   DEBIAN_MIRROR   mirror URL (default: the Debian mirror configured in /etc/apt, else deb.debian.org)
#   DEBIAN_SUITE    default trixie (must ship python3.13)
#   PYTHON          host python with pip, used only to download wheels (default: python3)
#   BUILD_TMPDIR    parent of the temporary build directory (default: /var/tmp)
#   KEEP_BUILD_DIR  set to 1 to keep the build directory for inspection
set -euo pipefail

IMAGE_REF=${1:?usage: build_offline.sh IMAGE:TAG}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REQUIREMENTS="$HERE/requirements.txt"
SUITE=${DEBIAN_SUITE:-trixie}
PY_MM=3.13
PIP_BOOTSTRAP_VERSION=26.3 # runs the install inside the chroot; not left in the image
SANDBOX_UID=10001
STEPS=7
START=$SECONDS

step() { printf '[offline-build %d/%d +%ds] %s\n' "$1" "$STEPS" "$((SECONDS - START))" "$2"; }
info() { printf '[offline-build      +%ds]   %s\n' "$((SECONDS - START))" "$*"; }
die() { printf '[offline-build] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Pick the Debian mirror the host's apt uses (deb822 *.sources and one-line *.list files).
detect_mirror() {
    local files=() f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && files+=("$f")
    done
    [ "${#files[@]}" -gt 0 ] || return 0
    awk '
        function pick(uri, suites,   n, i, s) {
            n = split(suites, s, /[ \t]+/)
            for (i = 1; i <= n; i++) {
                if (s[i] == "") continue
                if (s[i] ~ /(-security|\/updates)$/ || uri ~ /security/) return
                if (s[i] ~ /^(buster|bullseye|bookworm|trixie|forky|sid|stable|testing|unstable|oldstable)(-updates|-backports)?$/) {
                    print uri; found = 1; exit
                }
            }
        }
        FNR == 1 { flush() }
        /^[ \t]*#/ { next }
        FILENAME ~ /\.sources$/ {
            if ($0 ~ /^[ \t]*$/) { flush(); next }
            if (tolower($1) == "types:") { types = $0 }
            else if (tolower($1) == "uris:") { uris = $2 }
            else if (tolower($1) == "suites:") { sub(/^[^:]*:[ \t]*/, ""); suites = $0 }
            else if (tolower($1) == "enabled:") { enabled = tolower($2) }
            next
        }
        $1 == "deb" {
            i = 2
            if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
            pick($i, $(i + 1))
        }
        function flush() {
            if (uris != "" && types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no") pick(uris, suites)
            types = ""; uris = ""; suites = ""; enabled = ""
        }
        END { if (!found) flush() }
    ' "${files[@]}" 2>/dev/null | head -n 1
}

# ---------------------------------------------------------------------------------------------
step 1 "checking prerequisites"
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and chroot need it); try: sudo $0 $*"
[ -f "$REQUIREMENTS" ] || die "missing $REQUIREMENTS"
DEBOOTSTRAP=$(command -v debootstrap || true)
[ -n "$DEBOOTSTRAP" ] || { [ -x /usr/sbin/debootstrap ] && DEBOOTSTRAP=/usr/sbin/debootstrap; } \
    || die "debootstrap not found; install it (apt-get install -y debootstrap or scripts/ensure-docker.sh)"
command -v docker >/dev/null 2>&1 || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "Docker engine not reachable (scripts/ensure-docker.sh starts one)"
HOST_PY=""
for cand in "${PYTHON:-}" python3 python; do
    [ -n "$cand" ] || continue
    if "$cand" -m pip --version >/dev/null 2>&1; then HOST_PY=$cand; break; fi
done
[ -n "$HOST_PY" ] || die "no host python with pip found (set PYTHON=/path/to/python)"
MIRROR=${DEBIAN_MIRROR:-$(detect_mirror)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
info "image:   $IMAGE_REF"
info "mirror:  $MIRROR ($SUITE)"
info "pip via: $HOST_PY ($("$HOST_PY" -m pip --version | cut -d' ' -f1-2))"

BUILD=$(mktemp -d "${BUILD_TMPDIR:-/var/tmp}/guru-sandbox-build.XXXXXX")
ROOTFS="$BUILD/rootfs"
WHEELS="$BUILD/wheels"
MOUNTS=()
PIP_PID=""
cleanup() {
    local rc=$? m
    [ -n "$PIP_PID" ] && kill "$PIP_PID" 2>/dev/null || true
    for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null || true; done
    if [ "${KEEP_BUILD_DIR:-0}" = 1 ]; then
        info "build directory kept: $BUILD"
    else
        rm -rf --one-file-system "$BUILD"
    fi
    [ "$rc" -eq 0 ] || printf '[offline-build] FAILED after %ds\n' "$((SECONDS - START))" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM
info "build dir: $BUILD"

# Commands inside the root file system run with a clean environment: nothing from the host's
# pip/proxy configuration leaks in, and the chroot never needs the network.
in_root() {
    chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8 "$@"
}

# ---------------------------------------------------------------------------------------------
step 2 "downloading wheels in the background (pip, cp$PY_MM manylinux x86_64)"
PLATFORMS=(--platform manylinux2014_x86_64)
for minor in $(seq 17 41); do PLATFORMS+=(--platform "manylinux_2_${minor}_x86_64"); done
mkdir -p "$WHEELS"
(
    set -e
    "$HOST_PY" -m pip download --disable-pip-version-check --no-input --progress-bar off -q \
        --only-binary=:all: --python-version "$PY_MM" --implementation cp --abi "cp${PY_MM/./}" \
        "${PLATFORMS[@]}" -d "$WHEELS" -r "$REQUIREMENTS"
    "$HOST_PY" -m pip download --disable-pip-version-check --no-input --progress-bar off -q \
        --only-binary=:all: --no-deps -d "$BUILD/pip" "pip==$PIP_BOOTSTRAP_VERSION"
) >"$BUILD/pip-download.log" 2>&1 &
PIP_PID=$!

# ---------------------------------------------------------------------------------------------
step 3 "debootstrap --variant=minbase $SUITE (python3, git, curl, ca-certificates)"
if ! "$DEBOOTSTRAP" --variant=minbase --components=main --merged-usr \
        --include=python3,python3-minimal,ca-certificates,git,curl \
        "$SUITE" "$ROOTFS" "$MIRROR" >"$BUILD/debootstrap.log" 2>&1; then
    tail -n 30 "$BUILD/debootstrap.log" >&2
    [ -f "$ROOTFS/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (mirror $MIRROR; set DEBIAN_MIRROR to another Debian mirror)"
fi
ROOT_PY=$(in_root python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$ROOT_PY" = "$PY_MM" ] || die "$SUITE ships python $ROOT_PY, expected $PY_MM"
info "root file system ready: python $(in_root python3 -c 'import platform; print(platform.python_version())'), $(du -sh "$ROOTFS" | cut -f1)"

info "waiting for the wheel download"
if ! wait "$PIP_PID"; then
    PIP_PID=""
    tail -n 30 "$BUILD/pip-download.log" >&2
    die "pip download failed"
fi
PIP_PID=""
info "$(ls "$WHEELS" | wc -l) wheels, $(du -sh "$WHEELS" | cut -f1)"

# ---------------------------------------------------------------------------------------------
step 4 "installing the pinned libraries with the chroot's python"
mkdir -p "$ROOTFS/proc" "$ROOTFS/dev/shm"
# /proc and /dev/shm let pip and compileall's worker processes behave normally in the chroot.
if mount -t proc proc "$ROOTFS/proc" 2>/dev/null; then MOUNTS=("$ROOTFS/proc" "${MOUNTS[@]}"); fi
if mount -t tmpfs -o size=64m tmpfs "$ROOTFS/dev/shm" 2>/dev/null; then MOUNTS=("$ROOTFS/dev/shm" "${MOUNTS[@]}"); fi
mkdir -p "$ROOTFS/tmp/guru-build"
mv "$WHEELS" "$ROOTFS/tmp/guru-build/wheels"
cp "$REQUIREMENTS" "$ROOTFS/tmp/guru-build/requirements.txt"
PIP_WHL=$(cd "$BUILD/pip" && ls pip-*.whl | head -n 1)
mv "$BUILD/pip/$PIP_WHL" "$ROOTFS/tmp/guru-build/"
# Debian marks its python as externally managed; this image is ours, and pip installs under
# /usr/local (Debian's default scheme for pip), separate from apt's /usr/lib/python3.
if ! in_root python3 "/tmp/guru-build/$PIP_WHL/pip" install --no-index \
        --find-links /tmp/guru-build/wheels --only-binary=:all: --no-compile --no-cache-dir \
        --break-system-packages --root-user-action=ignore --disable-pip-version-check \
        --no-warn-script-location --progress-bar off -q \
        -r /tmp/guru-build/requirements.txt >"$BUILD/pip-install.log" 2>&1; then
    tail -n 30 "$BUILD/pip-install.log" >&2
    die "pip install failed"
fi
in_root python3 "/tmp/guru-build/$PIP_WHL/pip" check --disable-pip-version-check \
    >"$BUILD/pip-check.log" 2>&1 || { cat "$BUILD/pip-check.log" >&2; die "pip check failed"; }
rm -rf "$ROOTFS/tmp/guru-build"
SITE=/usr/local/lib/python$PY_MM/dist-packages
info "installed: $(in_root python3 -c "import pathlib; print(len(list(pathlib.Path('$SITE').glob('*.dist-info'))))") distributions, $(du -sh "$ROOTFS$SITE" | cut -f1)"

# ---------------------------------------------------------------------------------------------
step 5 "non-root user (uid $SANDBOX_UID), python symlink, byte-code"
in_root useradd --uid "$SANDBOX_UID" --user-group --no-create-home --home-dir /tmp \
    --shell /usr/sbin/nologin sandbox
ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
install -d -m 0755 "$ROOTFS/opt/guru"
# unchecked-hash: the interpreter trusts the .pyc without stat-ing the source (read-only root,
# files never change), so imports stay fast. Debian's stdlib .pyc (compiled by its postinst) are
# rebuilt the same way. A few files that are not valid Python 3 (templates, test data) fail to
# compile; that is expected and harmless.
in_root python3 -m compileall -q -f -j 0 --invalidation-mode unchecked-hash \
    "/usr/lib/python$PY_MM" /usr/lib/python3/dist-packages "$SITE" >"$BUILD/compileall.log" 2>&1 || true
info "compiled: $(find "$ROOTFS/usr" -name '*.pyc' | wc -l) .pyc files ($(grep -c '^\*\*\*' "$BUILD/compileall.log" || true) sources skipped)"

# ---------------------------------------------------------------------------------------------
step 6 "stripping apt caches, docs, man pages, locales"
for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null || true; done
MOUNTS=()
in_root apt-get clean >/dev/null 2>&1 || true
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/cache/debconf/*-old \
    "$ROOTFS"/var/lib/dpkg/*-old "$ROOTFS"/var/log/* "$ROOTFS"/usr/share/doc/* \
    "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/lintian \
    "$ROOTFS"/usr/share/locale/* "$ROOTFS"/usr/share/bug "$ROOTFS"/debootstrap \
    "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/* "$ROOTFS"/root/.cache
# Keep later `apt-get install` runs (derived images) from bringing docs back.
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/guru-mcp-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
: >"$ROOTFS/etc/resolv.conf"
chmod 1777 "$ROOTFS/tmp" "$ROOTFS/var/tmp"
info "root file system: $(du -sh "$ROOTFS" | cut -f1)"

# ---------------------------------------------------------------------------------------------
step 7 "docker import $IMAGE_REF"
tar --numeric-owner --one-file-system -C "$ROOTFS" -cf - \
        --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' . \
    | docker import \
        --change "USER $SANDBOX_UID" \
        --change 'WORKDIR /tmp' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV HOME=/tmp' \
        --change 'ENV PYTHONUNBUFFERED=1' \
        --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
        --change 'ENV MPLBACKEND=Agg' \
        --change 'LABEL io.guru-mcp.sandbox-image.build=offline' \
        --change 'CMD ["python3"]' \
        --message "guru-mcp sandbox base (offline build, debian $SUITE)" \
        - "$IMAGE_REF" >/dev/null
SIZE=$(docker image inspect --format '{{.Size}}' "$IMAGE_REF")
info "imported $IMAGE_REF ($((SIZE / 1000000)) MB)"
printf '[offline-build] done in %ds\n' "$((SECONDS - START))"
