#!/usr/bin/env bash
# The friendly front of the ggaoed build. As root on a fresh Debian machine:
#
#   ./build.sh          build the static binary into build/publish/ (same as ./build.sh build)
#   ./build.sh demo     build, then export a sparse 1 GiB image from a private network namespace
#                       and show that it answers an AoE discovery from a second namespace
#   ./build.sh test     run the whole test suite; prints "N passed, N failed, N skipped" and exits
#                       non-zero when any test fails
#
# Each command first installs the Debian packages it needs when they are missing. The .NET SDK
# (10 or newer) must already be installed.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")"
REPO=$PWD

# The Debian packages each command needs: the one place to edit them.
#   build: NativeAOT links a static-pie executable with gcc + ld.lld against libc.a (libc6-dev).
#   demo:  iproute2 for network namespaces and veth pairs.
#   test:  the root tests also run vblade/aoetools/tshark as witnesses, fio for load, mandoc to lint
#          the man pages, systemd-analyze (systemd) to verify the unit, and boot Debian's kernel (which has aoe.ko) in qemu with a busybox initramfs.
PKG_BUILD=(lld gcc libc6-dev make file)
PKG_DEMO=("${PKG_BUILD[@]}" iproute2)
PKG_TEST=("${PKG_BUILD[@]}" iproute2 tshark vblade aoetools fio qemu-system-x86 linux-image-amd64
	busybox-static cpio mandoc systemd xfsprogs btrfs-progs cryptsetup-bin e2fsprogs)

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'build.sh: %s\n' "$*" >&2
	exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Installs the packages not yet installed, with a single apt-get update per run.
APT_UPDATED=0
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	is_root || die "missing Debian packages: ${missing[*]}. Run as root, or: sudo apt-get install ${missing[*]}"
	command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if [ $APT_UPDATED -eq 0 ]; then
		apt-get update -q
		APT_UPDATED=1
	fi
	apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Finds dotnet with an SDK >= 10, or explains what to install.
DOTNET=${DOTNET:-}
ensure_dotnet() {
	local d sdk
	if [ -z "$DOTNET" ]; then
		for d in "$(command -v dotnet || true)" /usr/share/dotnet/dotnet "${HOME:-/root}/.dotnet/dotnet"; do
			if [ -n "$d" ] && [ -x "$d" ]; then
				DOTNET=$d
				break
			fi
		done
	fi
	[ -n "$DOTNET" ] || die "the .NET SDK (dotnet) is not installed. Install the .NET 10 SDK first:
  https://learn.microsoft.com/dotnet/core/install/linux (Debian: dotnet-sdk-10.0 from
  packages.microsoft.com, or dotnet-install.sh --channel 10.0), then rerun this command."
	sdk=$("$DOTNET" --list-sdks 2>/dev/null | awk '{ split($1, v, "."); if (v[1] + 0 >= 10) s = $1 } END { print s }')
	[ -n "$sdk" ] || die "$DOTNET has no .NET SDK 10 or newer (found: $("$DOTNET" --list-sdks | awk '{printf "%s ", $1}')).
  Install the .NET 10 SDK: https://learn.microsoft.com/dotnet/core/install/linux"
	export DOTNET
}

cmd_build() {
	ensure_packages "${PKG_BUILD[@]}"
	ensure_dotnet
	# Keep an existing configuration (the user may have chosen a prefix); else take the defaults.
	if [ ! -f config.mk ]; then
		./configure
	fi
	make
	say "built $REPO/build/publish/ggaoed ($(stat -c %s build/publish/ggaoed) bytes; symbols in ggaoed.dbg)"
}

# Counts the test results with the given outcome over all trx files given. (The <Counters>
# summary does not count skipped tests, so this reads each <UnitTestResult>.)
trx_count() {
	local outcome=$1
	shift
	grep -o '<UnitTestResult [^>]*' "$@" | grep -c " outcome=\"$outcome\"" || true
}

# The total number of tests the run knew about, from the <Counters> summaries.
trx_total() {
	local f v total=0
	for f in "$@"; do
		v=$(grep -o '<Counters [^>]*' "$f" | grep -o ' total="[0-9]*"' | grep -o '[0-9]\+' || true)
		total=$((total + ${v:-0}))
	done
	echo "$total"
}

cmd_test() {
	ensure_packages "${PKG_TEST[@]}"
	ensure_dotnet
	is_root || say "not root: tests that need root (namespaces, raw sockets, loop devices, chroot) will be skipped"
	local results=build/test-results rc=0
	rm -rf "$results"
	mkdir -p "$results"
	# Debug configuration: the published-binary tests publish Release themselves, and a separate
	# configuration keeps the two builds from writing the same obj/ and bin/ folders.
	# The hang timeout turns a stuck test into a failure that names it, well inside CI's limit.
	"$DOTNET" test ggaoed.slnx -c Debug --logger trx --results-directory "$results" \
		--logger "console;verbosity=normal" \
		--blame-hang-timeout 20m --blame-hang-dump-type none || rc=$?

	summarize_results "$results" || { [ $rc -ne 0 ] || rc=1; }
	return $rc
}

# Prints "FAILED <test>" and up to 8 lines of its error message for every failed, timed-out or
# aborted result in the trx files given. The trx logger writes each <UnitTestResult ...> start tag
# on one line, and the message between <Message> and </Message>, possibly over several lines.
list_failures() {
	awk '
		function unescape(s) {
			gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s)
			gsub(/&apos;/, "\047", s); gsub(/&#xD;/, "", s); gsub(/&#xA;/, " ", s); gsub(/&amp;/, "\\&", s)
			return s
		}
		/<UnitTestResult / {
			failing = match($0, / outcome="(Failed|Error|Timeout|Aborted)"/) > 0
			inMessage = 0
			if (failing) {
				name = $0
				sub(/.* testName="/, "", name); sub(/".*/, "", name)
				print "FAILED " unescape(name)
				lines = 0
			}
		}
		failing && /<Message>/ { inMessage = 1; sub(/.*<Message>/, "") }
		failing && inMessage {
			line = $0
			last = sub(/<\/Message>.*/, "", line)
			if (line != "" && lines < 8) { print "    " unescape(line); lines++ }
			if (last) { inMessage = 0; failing = 0 }
		}
		/<\/UnitTestResult>/ { failing = 0; inMessage = 0 }
	' "$@"
}

# Prints the benchmark lines and "N passed, N failed, N skipped" from the trx files under the
# given folder; fails when a test failed or no results exist.
summarize_results() {
	local trx total passed failed skipped executed
	mapfile -t trx < <(find "$1" -name '*.trx' 2>/dev/null)
	if [ ${#trx[@]} -eq 0 ]; then
		echo "build.sh: no test results found in $1" >&2
		return 1
	fi
	# Benchmark lines the tests print (binary size, startup time), collected for the log.
	grep -ho 'BENCHMARK[^<&]*' "${trx[@]}" 2>/dev/null | sort -u || true
	total=$(trx_total "${trx[@]}")
	passed=$(trx_count Passed "${trx[@]}")
	failed=$(($(trx_count Failed "${trx[@]}") + $(trx_count Error "${trx[@]}") + $(trx_count Timeout "${trx[@]}") + $(trx_count Aborted "${trx[@]}")))
	skipped=$(trx_count NotExecuted "${trx[@]}")
	# A test that never reported (crash, hang) counts as failed.
	executed=$((passed + failed + skipped))
	if [ "$executed" -lt "$total" ]; then failed=$((failed + total - executed)); fi
	# The console log names a failure where it happened, hundreds of lines up; repeat each one here,
	# with the first lines of its message, so the tail of a CI log says what broke.
	list_failures "${trx[@]}"
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" -eq 0 ]
}

# ---- demo ------------------------------------------------------------------------------------
DEMO_NS_TARGET=gg-demo-tgt
DEMO_NS_CLIENT=gg-demo-cli
DEMO_IF_TARGET=gg-demo-t
DEMO_IF_CLIENT=gg-demo-c
DEMO_DIR=
DEMO_PID=

demo_cleanup() {
	set +e
	if [ -n "$DEMO_PID" ] && kill -0 "$DEMO_PID" 2>/dev/null; then
		kill -TERM "$DEMO_PID"
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$DEMO_PID" 2>/dev/null || break
			sleep 0.5
		done
		kill -KILL "$DEMO_PID" 2>/dev/null
		wait "$DEMO_PID" 2>/dev/null
	fi
	# Deleting a namespace deletes the veth end inside it, and with it the pair.
	ip netns del "$DEMO_NS_TARGET" 2>/dev/null
	ip netns del "$DEMO_NS_CLIENT" 2>/dev/null
	[ -n "$DEMO_DIR" ] && rm -rf "$DEMO_DIR"
}

# The demo's verdict, from what `ggaoectl discover` printed: the exported device must be listed as
# shelf.slot 1.1. Adjust here if discover's output format changes.
demo_check() {
	local out=$1
	grep -Eq '(^|[^0-9.])1\.1([^0-9]|$)' "$out"
}

cmd_demo() {
	is_root || die "demo needs root (it creates network namespaces); run: sudo ./build.sh demo"
	ensure_packages "${PKG_DEMO[@]}"
	cmd_build
	local bin=$REPO/build/publish/ggaoed

	# Leftovers of an interrupted earlier run would make ip fail.
	ip netns del "$DEMO_NS_TARGET" 2>/dev/null || true
	ip netns del "$DEMO_NS_CLIENT" 2>/dev/null || true
	trap demo_cleanup EXIT
	trap 'exit 130' INT TERM

	DEMO_DIR=$(mktemp -d /tmp/gg-demo.XXXXXX)
	ln -s "$bin" "$DEMO_DIR/ggaoectl"
	say "sparse 1 GiB image $DEMO_DIR/disk.img"
	truncate -s 1G "$DEMO_DIR/disk.img"

	say "namespaces $DEMO_NS_TARGET <-> $DEMO_NS_CLIENT over veth $DEMO_IF_TARGET/$DEMO_IF_CLIENT"
	ip netns add "$DEMO_NS_TARGET"
	ip netns add "$DEMO_NS_CLIENT"
	ip link add "$DEMO_IF_TARGET" netns "$DEMO_NS_TARGET" type veth peer name "$DEMO_IF_CLIENT" netns "$DEMO_NS_CLIENT"
	ip -n "$DEMO_NS_TARGET" link set lo up
	ip -n "$DEMO_NS_TARGET" link set "$DEMO_IF_TARGET" up
	ip -n "$DEMO_NS_CLIENT" link set lo up
	ip -n "$DEMO_NS_CLIENT" link set "$DEMO_IF_CLIENT" up

	cat >"$DEMO_DIR/ggaoed.conf" <<EOF
# ggaoed demo: one sparse image as AoE shelf 1, slot 1 on the demo veth.
[defaults]
interfaces = $DEMO_IF_TARGET
pid-file = $DEMO_DIR/ggaoed.pid
control-socket = $DEMO_DIR/ggaoed.sock
state-directory = $DEMO_DIR/state

[demo]
path = $DEMO_DIR/disk.img
shelf = 1
slot = 1
EOF
	mkdir -p "$DEMO_DIR/state"
	say "config:"
	sed 's/^/    /' "$DEMO_DIR/ggaoed.conf"

	say "starting: ggaoed -f -c $DEMO_DIR/ggaoed.conf (in $DEMO_NS_TARGET)"
	ip netns exec "$DEMO_NS_TARGET" "$bin" -f -c "$DEMO_DIR/ggaoed.conf" </dev/null >"$DEMO_DIR/ggaoed.log" 2>&1 &
	DEMO_PID=$!
	# Ready when the control socket appears (or give it 5 s); a daemon that exits early has failed.
	for _ in $(seq 50); do
		[ -S "$DEMO_DIR/ggaoed.sock" ] && break
		kill -0 "$DEMO_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! kill -0 "$DEMO_PID" 2>/dev/null; then
		wait "$DEMO_PID" && status=0 || status=$?
		DEMO_PID=
		echo "ggaoed exited early (status $status). Its log:"
		sed 's/^/    /' "$DEMO_DIR/ggaoed.log"
		die "demo FAILED: the daemon did not stay up"
	fi

	# discover needs no daemon, but -c keeps ggaoectl from looking for /etc's configuration.
	say "discovering from $DEMO_NS_CLIENT: ggaoectl -c $DEMO_DIR/ggaoed.conf discover $DEMO_IF_CLIENT"
	local out=$DEMO_DIR/discover.out dstatus=0
	ip netns exec "$DEMO_NS_CLIENT" "$DEMO_DIR/ggaoectl" -c "$DEMO_DIR/ggaoed.conf" discover "$DEMO_IF_CLIENT" \
		</dev/null >"$out" 2>&1 || dstatus=$?
	sed 's/^/    /' "$out"
	if [ $dstatus -eq 0 ] && demo_check "$out"; then
		say "discovery OK; now 3 s of random 4-way writes, then reads, through AoE:"
		local bstatus=0
		ip netns exec "$DEMO_NS_CLIENT" "$DEMO_DIR/ggaoectl" bench "$DEMO_IF_CLIENT" --target 1.1 \
			--rw randwrite --depth 4 --duration 3 2>&1 | sed 's/^/    /' || bstatus=1
		ip netns exec "$DEMO_NS_CLIENT" "$DEMO_DIR/ggaoectl" bench "$DEMO_IF_CLIENT" --target 1.1 \
			--rw randread --depth 4 --duration 3 2>&1 | sed 's/^/    /' || bstatus=1
		say "what the daemon counted (ggaoectl stats):"
		"$DEMO_DIR/ggaoectl" -c "$DEMO_DIR/ggaoed.conf" stats | sed 's/^/    /' || bstatus=1
		[ $bstatus -eq 0 ] || die "demo FAILED: I/O through AoE did not work"
		say "demo OK: shelf 1 slot 1 (1 GiB) answers over AoE and serves reads and writes"
	else
		echo "ggaoed log:"
		sed 's/^/    /' "$DEMO_DIR/ggaoed.log"
		die "demo FAILED: the device did not answer the discovery (ggaoectl status $dstatus)"
	fi
}

case "${1:-build}" in
build) cmd_build ;;
test) cmd_test ;;
demo) cmd_demo ;;
# Internal, for the tests: the summary of the trx files under a folder.
summarize) summarize_results "${2:?usage: $0 summarize RESULTS_DIR}" ;;
-h | --help | help)
	sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
	;;
*)
	echo "usage: $0 [build|demo|test]" >&2
	exit 2
	;;
esac
