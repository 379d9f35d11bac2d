# tools/throwaway-cluster.sh -- sourced by the test, demo and bench scripts.
#
# Starts a PostgreSQL instance of our own: its own data directory, socket
# directory and port, no TCP listener, never the system cluster.  Call
# cluster_start DIR [extra postgresql.conf lines...]; it exports PGHOST,
# PGPORT and PGDATABASE for psql, and stops the instance when the calling
# shell exits.  Must not run as root (initdb refuses); the callers switch to
# an unprivileged user first.

PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BINDIR=$("$PG_CONFIG" --bindir)

cluster_start() {
	local dir=$1
	shift
	CLUSTER_DIR=$dir
	rm -rf "$dir"
	mkdir -p "$dir"
	"$PG_BINDIR/initdb" -D "$dir/data" -A trust --no-sync -E UTF8 --locale=C \
		>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
	# a port of our own; with no TCP listener it only names the socket file
	CLUSTER_PORT=${CLUSTER_PORT:-$((50000 + RANDOM % 10000))}
	{
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir'"
		echo "port = $CLUSTER_PORT"
		echo "fsync = off"
		echo "shared_preload_libraries = 'personalize'"
		echo "max_worker_processes = 16"
		for line in "$@"; do echo "$line"; done
	} >>"$dir/data/postgresql.conf"
	"$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
		>/dev/null || { cat "$dir/server.log" >&2; return 1; }
	export PGHOST=$dir PGPORT=$CLUSTER_PORT PGDATABASE=postgres
	trap cluster_stop EXIT
}

cluster_stop() {
	if [ -n "${CLUSTER_DIR:-}" ] && [ -f "$CLUSTER_DIR/data/postmaster.pid" ]; then
		"$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
}

# run_unprivileged SCRIPT ARGS...: when root, re-run SCRIPT (a path relative
# to the source tree) as the "postgres" OS user, which the Debian packages
# create, in a copy of the source tree that user can read and write;
# otherwise return, and the caller goes on as itself.  The variables named
# in PASS_ENV travel along.
PASS_ENV="KEEP PG_CONFIG REGRESS ISOLATION PGTAP_TESTS TAP_TESTS KINDS SCALE BENCH DURATION BENCH_SECONDS PROVE_FLAGS CLIENTS RUNS LATENCY_SECONDS ROUNDS TPS_SECONDS WRITES"

run_unprivileged() {
	local script=$1
	shift
	[ "$(id -u)" -eq 0 ] || return 0
	if ! id postgres >/dev/null 2>&1; then
		echo "running as root needs an unprivileged 'postgres' OS user for the throwaway server" >&2
		exit 1
	fi
	local copy var
	local -a envs=("PATH=$PATH" "PERSONALIZE_COPY=1")
	copy=$(mktemp -d /tmp/personalize.XXXXXX)
	tar -C "$SRC" --exclude=.git --exclude=tmp_check -cf - . | tar -C "$copy" -xf -
	chown -R postgres: "$copy"
	for var in $PASS_ENV; do
		[ -n "${!var+x}" ] && envs+=("$var=${!var}")
	done
	echo "(root: running as OS user postgres in $copy)"
	# the caller's directory (often under /root) is closed to that user
	cd "$copy"
	exec runuser -u postgres -- env "${envs[@]}" bash "$copy/$script" "$@"
}
