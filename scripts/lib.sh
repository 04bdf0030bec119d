# shellcheck shell=bash
# Common settings and helpers for the pipeline scripts; sourced, never run.

set -euo pipefail
# Under set -e a failing command ends a script silently: say which.
trap 'say "error: \"$BASH_COMMAND\" failed (exit $?) at line $LINENO"' ERR

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KSRC=${KSRC:-$REPO/kernel}
BUILD=${BUILD:-$REPO/build}
KOBJ=$BUILD/kernel-obj
KHDR=$BUILD/headers
SELFTEST_BIN=$BUILD/selftests
PATCHES=${PATCHES:-$REPO/patches}
DEBIAN_TARBALL=${DEBIAN_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
BASE_TAG=debian-6.12-base
# The series is an RFC: a new uAPI whose case is still being argued.
SUBJECT_PREFIX="RFC PATCH v2"
PLACEHOLDER_IDENT="Lazyrestore Developers <devel@lazyrestore.example>"
JOBS=${JOBS:-$(nproc)}

export CCACHE_BASEDIR=$REPO
export CCACHE_NOHASHDIR=1

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Run a step's body only when its inputs changed: stamp NAME INPUT-HASH.
stamp_is() { [ -f "$BUILD/stamps/$1" ] && [ "$(cat "$BUILD/stamps/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$BUILD/stamps"; printf '%s\n' "$2" > "$BUILD/stamps/$1"; }
stamp_clear() { rm -f "$BUILD/stamps/$1"; }

# The series, in order, cover letter first (git am drops it as empty).
series_files() { find "$PATCHES" -maxdepth 1 -name '*.patch' | LC_ALL=C sort; }
series_hash() {
	{ series_files | while read -r p; do cat "$p"; done; } | sha256sum | cut -c1-16
}
