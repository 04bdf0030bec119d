# shellcheck shell=bash
# Common settings and helpers for the pipeline scripts; sourced, never run.

set -euo pipefail
# Under set -e a failing command ends a script silently: say which.
trap 'say "error: \"$BASH_COMMAND\" failed (exit $?) at line $LINENO"' ERR

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KSRC=${KSRC:-$REPO/kernel}
BUILD=${BUILD:-$REPO/build}
# FLAVOR=soak: make soak's KASAN kernel, Kconfig.snippet plus Kconfig.soak,
# built in an output directory and under stamps of its own.
FLAVOR=${FLAVOR:-}
KOBJ=$BUILD/kernel-obj${FLAVOR:+-$FLAVOR}
KSNIPPETS=("$REPO/Kconfig.snippet")
[ -z "$FLAVOR" ] || KSNIPPETS+=("$REPO/Kconfig.$FLAVOR")
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

# One result row: tsv_row TSV SUITE NAME STATUS NOTE. Tabs and newlines in
# the name or note become spaces: the table's fields stay four.
tsv_row() {
	local tsv=$1
	shift
	printf '%s\t%s\t%s\t%s\n' "$1" "$(printf '%s' "$2" | tr '\t\n' '  ')" "$3" \
		"$(printf '%s' "$4" | tr '\t\n' '  ')" >> "$tsv"
}

# The guest selftests tests/guest-tests names, all built.
need_selftests() {
	local missing
	missing=$("$REPO/scripts/manifest.py" --ksrc "$KSRC" build | cut -f1 |
		while read -r b; do [ -x "$SELFTEST_BIN/$b" ] || printf ' %s' "$b"; done)
	[ -z "$missing" ] || die "selftests not built in $SELFTEST_BIN:$missing: run scripts/build first"
}

# with_progress WHAT LOG CMD...: run CMD, its output into LOG, and say once
# a minute (PROGRESS_SECONDS) how far it is: the files a kernel build has
# compiled (lines "  CC ..." in LOG) of how many the last WHAT compiled.
# CMD's status.
with_progress() {
	local what=$1 log=$2 pid rc=0 start=$SECONDS every=${PROGRESS_SECONDS:-60} next n of
	shift 2
	of=$(cat "$BUILD/stamps/progress-$what" 2>/dev/null || true)
	next=$every
	"$@" >"$log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		[ $((SECONDS - start)) -ge "$next" ] || continue
		next=$((next + every))
		n=$(grep -c '^  CC ' "$log" || true)
		if [ "$n" -gt 0 ]; then
			say "$what: $((SECONDS - start)) s, $n files compiled${of:+ of about $of (the last $what)}"
		else
			say "$what: $((SECONDS - start)) s, still running"
		fi
	done
	wait "$pid" || rc=$?
	n=$(grep -c '^  CC ' "$log" || true)
	# A build that compiled next to nothing (ccache, a rebuild) is no measure.
	[ "$rc" -ne 0 ] || [ "$n" -lt 100 ] || stamp_set "progress-$what" "$n"
	return "$rc"
}
