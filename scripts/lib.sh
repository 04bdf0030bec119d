# shellcheck shell=bash
# Common settings and helpers for the pipeline scripts; sourced, never run.

set -euo pipefail
# Under set -e a failing command ends a script silently: say which.
trap 'say "error: \"$BASH_COMMAND\" failed (exit $?) at line $LINENO"' ERR

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# BASE: the Debian kernel source the series is for. 6.12, the default, is
# the series posted upstream; 6.1 is Debian 12's own kernel, where the
# selftests live in selftests/vm/ and the series is patches/6.1/. Each base
# has its own work tree, build directory, series and manifest.
BASE=${BASE:-6.12}
case $BASE in
6.12)	KSRC=${KSRC:-$REPO/kernel}
	BUILD=${BUILD:-$REPO/build}
	PATCHES=${PATCHES:-$REPO/patches}
	SELFTEST_DIR=tools/testing/selftests/mm
	SERIES_NOTES=$REPO/scripts/series-notes
	BACKPORT_RULES=
	MANIFEST=$REPO/tests/guest-tests ;;
6.1)	KSRC=${KSRC:-$REPO/kernel-6.1}
	BUILD=${BUILD:-$REPO/build/6.1}
	PATCHES=${PATCHES:-$REPO/patches/6.1}
	SELFTEST_DIR=tools/testing/selftests/vm
	SERIES_NOTES=$REPO/scripts/series-notes-6.1
	BACKPORT_RULES=$REPO/scripts/backport-6.1
	MANIFEST=$REPO/tests/guest-tests-6.1 ;;
*)	printf '%s: BASE=%s: the bases are 6.12 (the default) and 6.1\n' "${0##*/}" "$BASE" >&2
	exit 2 ;;
esac
# scripts/manifest.py reads these two.
export BASE MANIFEST SELFTEST_DIR
DEBIAN_PACKAGE=linux-source-$BASE
DEBIAN_TARBALL=${DEBIAN_TARBALL:-/usr/src/$DEBIAN_PACKAGE.tar.xz}
BASE_TAG=debian-$BASE-base
# FLAVOR=soak: make soak's KASAN kernel, Kconfig.snippet plus Kconfig.soak,
# built in an output directory and under stamps of its own.
FLAVOR=${FLAVOR:-}
KOBJ=$BUILD/kernel-obj${FLAVOR:+-$FLAVOR}
KSNIPPETS=("$REPO/Kconfig.snippet")
[ -z "$FLAVOR" ] || KSNIPPETS+=("$REPO/Kconfig.$FLAVOR")
KHDR=$BUILD/headers
SELFTEST_BIN=$BUILD/selftests
# The series is an RFC: a new uAPI whose case is still being argued. The
# 6.1 one is its backport, named as stable backports are.
SUBJECT_PREFIX="RFC PATCH v2"
[ "$BASE" = 6.12 ] || SUBJECT_PREFIX="RFC PATCH $BASE v2"
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

# The files whose canonical source is this repo, each as "REPO-PATH<TAB>
# KERNEL-PATH": the selftests in tools/testing/selftests/mm/, shared by both
# bases (in selftests/vm/ on 6.1), and 6.1's own in tools/testing/selftests/vm/.
repo_kernel_paths() {
	(cd "$REPO" && git ls-files --cached --others --exclude-standard -- tools/) |
	while read -r path; do
		case $BASE:$path in
		6.12:tools/testing/selftests/vm/*) ;;
		6.1:tools/testing/selftests/mm/*)
			printf '%s\t%s\n' "$path" "$SELFTEST_DIR/${path#tools/testing/selftests/mm/}" ;;
		*)	printf '%s\t%s\n' "$path" "$path" ;;
		esac
	done
}

# repo_source SRC PATH: the file with what the series carries at PATH for
# the repo's SRC: SRC itself, or, where the base's backport rules
# (scripts/backport-6.1) change that file, SRC with them applied, written
# to $BUILD/backport/.
repo_source() {
	local src=$1 name=${2##*/} out
	if [ -z "$BACKPORT_RULES" ] || ! cut -f1 "$BACKPORT_RULES" | grep -qxF -- "$name"; then
		printf '%s\n' "$REPO/$src"
		return
	fi
	out=$BUILD/backport/$name
	mkdir -p "$BUILD/backport"
	"$REPO/scripts/series.py" backport "$BACKPORT_RULES" "$REPO/$src" "$name" > "$out.new" || return 1
	cmp -s "$out.new" "$out" && rm "$out.new" || mv "$out.new" "$out"
	printf '%s\n' "$out"
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
