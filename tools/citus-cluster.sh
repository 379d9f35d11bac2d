# tools/citus-cluster.sh -- sourced by test/citus/run.
#
# Starts a throwaway Citus cluster of our own: a coordinator and two
# workers, each a PostgreSQL instance with its own data directory, on
# 127.0.0.1 (Citus nodes reach each other over TCP) with ports of our own,
# shared_preload_libraries = 'citus,personalize', and the database "shop"
# with the citus extension on every node and the workers added to the
# coordinator.  citus_cluster_start DIR exports PGHOST, PGPORT and
# PGDATABASE for the coordinator, and CITUS_SPARE_PORT: the port of a
# fourth node, started alike but not added, for a test to add to the
# cluster; citus_cluster_stop stops them all.  Must not run as root
# (initdb refuses).

PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BINDIR=$("$PG_CONFIG" --bindir)

citus_cluster_start() {
	local dir=$1 base i port
	CITUS_DIR=$dir
	rm -rf "$dir"
	mkdir -p "$dir"
	base=${CITUS_PORT:-$((40000 + RANDOM % 10000))}
	CITUS_PORTS=("$base" "$((base + 1))" "$((base + 2))" "$((base + 3))")
	for i in 0 1 2 3; do
		port=${CITUS_PORTS[$i]}
		"$PG_BINDIR/initdb" -D "$dir/node$i" -A trust --no-sync -E UTF8 --locale=C \
			>"$dir/initdb$i.log" 2>&1 || { cat "$dir/initdb$i.log" >&2; return 1; }
		{
			echo "listen_addresses = '127.0.0.1'"
			echo "unix_socket_directories = '$dir'"
			echo "port = $port"
			echo "fsync = off"
			echo "shared_preload_libraries = 'citus,personalize'"
			echo "max_worker_processes = 32"
			echo "max_connections = 200"
			# the worker's purge runs when a journey asks for it
			echo "personalize.enabled = off"
		} >>"$dir/node$i/postgresql.conf"
		"$PG_BINDIR/pg_ctl" -D "$dir/node$i" -l "$dir/server$i.log" -w -t 60 start \
			>/dev/null || { cat "$dir/server$i.log" >&2; return 1; }
		"$PG_BINDIR/createdb" -h 127.0.0.1 -p "$port" shop
		psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -d shop \
			-c "SET client_min_messages = warning" -c "CREATE EXTENSION citus" >/dev/null
	done
	psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$base" -d shop >/dev/null <<-SQL
		SELECT citus_set_coordinator_host('127.0.0.1', $base);
		SELECT citus_add_node('127.0.0.1', ${CITUS_PORTS[1]});
		SELECT citus_add_node('127.0.0.1', ${CITUS_PORTS[2]});
	SQL
	export PGHOST=127.0.0.1 PGPORT=$base PGDATABASE=shop CITUS_SPARE_PORT=${CITUS_PORTS[3]}
	trap citus_cluster_stop EXIT
}

citus_cluster_stop() {
	local i
	[ -n "${CITUS_DIR:-}" ] || return 0
	for i in 0 1 2 3; do
		if [ -f "$CITUS_DIR/node$i/postmaster.pid" ]; then
			"$PG_BINDIR/pg_ctl" -D "$CITUS_DIR/node$i" -m fast -w stop >/dev/null 2>&1 || true
		fi
	done
}
