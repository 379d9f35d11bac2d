#!/bin/bash
# Benchmark: purging expired rows.
#
# A table of 5M rows (SCALE=1) with an index on its time column, of which
# about 1M are past a 90-day retention.  Measured side by side on identical
# copies: (a) one DELETE of all expired rows; (b) the common batched form,
# "ctid = ANY(ARRAY(SELECT ctid ... LIMIT 10000))" until nothing is left (as
# pg_ttl_index does); (c) CALL personalize.run_purge(), which commits each
# batch as the background worker does.  Then (d) a pgbench write workload
# (inserts and updates on the same table) with and without (c) running.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rows=$(awk -v s="$SCALE" 'BEGIN {printf "%d", 5000000 * s}')
echo
echo "== retention: $rows rows, 20% expired, index on the time column"
q "CREATE EXTENSION personalize"
start=$(date +%s.%N)
q "CREATE TABLE base (id bigint, customer_id bigint, at timestamptz, note text)"
q "INSERT INTO base SELECT i, i % 100000,
          now() - CASE WHEN i % 5 = 0 THEN interval '100 days' + (i % 1000) * interval '1 minute'
                       ELSE (i % 80) * interval '1 day' END,
          'row ' || i
     FROM generate_series(1, $rows) AS i"
expired=$(val "SELECT count(*) FROM base WHERE at < now() - interval '90 days'")
echo "data generated in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.0f", e - s}') s; $expired rows expired"

# make a fresh copy with its indexes, vacuumed, checkpointed
copy() {
	q "SET client_min_messages = warning; DROP TABLE IF EXISTS $1"
	q "CREATE TABLE $1 (LIKE base)"
	q "INSERT INTO $1 SELECT * FROM base"
	q "ALTER TABLE $1 ADD PRIMARY KEY (id)"
	q "CREATE INDEX ON $1 (at)"
	q "VACUUM ANALYZE $1"
	q "CHECKPOINT"
}

# (a) one DELETE
copy single
start=$(date +%s.%N)
q "DELETE FROM single WHERE at < now() - interval '90 days'"
a_s=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {print e - s}')

# (b) ctid = ANY(ARRAY(SELECT ctid ... LIMIT 10000)), one transaction per batch
copy naive
start=$(date +%s.%N)
max_b=0
while :; do
	b0=$(date +%s.%N)
	n=$(psql -X -q -At -c "WITH d AS (DELETE FROM naive WHERE ctid = ANY(ARRAY(
	        SELECT ctid FROM naive WHERE at < now() - interval '90 days' LIMIT 10000)) RETURNING 1)
	        SELECT count(*) FROM d")
	max_b=$(awk -v m="$max_b" -v s="$b0" -v e="$(date +%s.%N)" 'BEGIN {d = (e - s) * 1000; print (d > m) ? d : m}')
	[ "$n" -eq 0 ] && break
done
b_s=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {print e - s}')

# (c) run_purge(), a transaction per adaptive batch
copy ours
q "SELECT personalize.set_retention('ours', 'at', '90 days')"
start=$(date +%s.%N)
q "CALL personalize.run_purge('ours')"
c_s=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {print e - s}')
read -r c_rows c_batches c_max <<<"$(val "SELECT rows_deleted, batches, round(max_batch_ms::numeric, 1)
                                          FROM personalize.purge_log WHERE table_name = 'ours'::regclass" | tr '|' ' ')"
left=$(val "SELECT count(*) FROM ours WHERE at < now() - interval '90 days'")
if [ "$left" != 0 ] || [ "$c_rows" != "$expired" ]; then
	echo "MISMATCH: run_purge deleted $c_rows of $expired expired rows, $left left" >&2
	exit 1
fi

printf '\n%-34s %10s %12s %10s %14s\n' method seconds "rows/s" ratio "longest batch"
printf '%-34s %10.2f %12.0f %9sx %14s\n' "(a) one DELETE" "$a_s" "$(awk -v n="$expired" -v s="$a_s" 'BEGIN {print n / s}')" "1.00" "$(awk -v s="$a_s" 'BEGIN {printf "%.0f ms", s * 1000}')"
printf '%-34s %10.2f %12.0f %9sx %14s\n' "(b) ctid = ANY(... LIMIT 10000)" "$b_s" "$(awk -v n="$expired" -v s="$b_s" 'BEGIN {print n / s}')" "$(ratio "$a_s" "$b_s")" "$(printf '%.0f ms' "$max_b")"
printf '%-34s %10.2f %12.0f %9sx %14s\n' "(c) personalize run_purge()" "$c_s" "$(awk -v n="$expired" -v s="$c_s" 'BEGIN {print n / s}')" "$(ratio "$a_s" "$c_s")" "$c_max ms"
echo "(c) made $c_batches batches; target: >= 0.7x (a) with every batch <= 200 ms"

# (d) a write workload on the same table while the purge runs, against
# the same workload undisturbed, each run on a fresh copy.  "with purge" is
# the TPS over the purge's own interval (purge_log's start and end, counted
# in pgbench's per-transaction log); "undisturbed" is pgbench's TPS for a
# run without the purge.  Two workloads: one that inserts new rows and
# updates rows still in use (rows past their retention are by definition
# not in use), and one whose updates pick any row, so one in five aims at a
# row the purge deletes (and waits if it hits a batch in progress).  The purge
# runs at full speed (run_purge()'s default) and with the pause the
# background worker makes between batches (worker_purge_batch_delay).
#
# Two clients, one per core: a single client on a virtual machine is bound
# by the latency of waking an idle core, and runs faster when the purge
# keeps the cores busy, which measures the machine, not the purge.  And
# full_page_writes is off for this part (the throwaway cluster runs with
# fsync off anyway): after each copy's CHECKPOINT the first change to every
# page writes a full-page image, so the workload would speed up as it
# touches pages, and faster still once the purge has touched them all.
q "ALTER SYSTEM SET full_page_writes = off"
q "SELECT pg_reload_conf()"
dur=${DURATION:-10}
clients=${CLIENTS:-2}
n5=$((rows / 5))
wdelay=$(val "SELECT setting FROM pg_settings WHERE name = 'personalize.worker_purge_batch_delay'")
work=$(mktemp -d)
q "CREATE SEQUENCE live_ids"

# pgbench_run PICK: start the workload in the background on a fresh copy
pgbench_run() {
	copy live
	q "SELECT personalize.set_retention('live', 'at', '90 days')"
	cat > "$work/workload.sql" <<SQL
\set id $1
UPDATE live SET note = 'seen' WHERE id = :id;
INSERT INTO live (id, customer_id, at, note) VALUES ($rows + nextval('live_ids'), 1, now(), 'new');
SQL
	rm -f "$work"/tx.*
	( cd "$work" && "$PG_BINDIR/pgbench" -n -c "$clients" -j "$clients" -T "$dur" -l --log-prefix=tx -f workload.sql >pgbench.txt 2>&1 ) &
	bench_pid=$!
}

# tps_between FROM TO: TPS of the last run between two epochs
tps_between() {
	cat "$work"/tx.* | awk -v s="$1" -v e="$2" '
		{ t = $5 + $6 / 1e6; if (t >= s && t <= e) n++ }
		END { printf "%.1f\n", n / (e - s) }'
}

workload() {
	local name=$1 pick=$2 delay=$3 p_start p_end during undisturbed
	pgbench_run "$pick"
	sleep 2
	PGOPTIONS="$PGOPTIONS -c personalize.purge_batch_delay=$delay" q "CALL personalize.run_purge('live')"
	wait "$bench_pid"
	read -r p_start p_end <<<"$(val "SELECT extract(epoch FROM started_at), extract(epoch FROM finished_at)
	                                  FROM personalize.purge_log WHERE table_name = 'live'::regclass
	                                 ORDER BY run_id DESC LIMIT 1" | tr '|' ' ')"
	during=$(tps_between "$p_start" "$p_end")
	pgbench_run "$pick"
	wait "$bench_pid"
	undisturbed=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.txt" | head -1)
	printf '%-34s %6s ms %11.0f %10.0f %8sx %8.2f s\n' "$name" "$delay" "$undisturbed" "$during" \
		"$(ratio "$during" "$undisturbed")" "$(awk -v s="$p_start" -v e="$p_end" 'BEGIN {print e - s}')"
}
printf '\nwrite workload, %s clients, %s s; CALL run_purge() starts after 2 s\n' "$clients" "$dur"
printf '%-34s %9s %11s %10s %9s %10s\n' workload pause undisturbed "with purge" ratio "purge took"
live="5 * random(0, $((n5 - 1))) + random(1, 4)"
workload "(d) insert + update a live row" "$live" 0
workload "(d) insert + update a live row" "$live" "$wdelay"
workload "(e) insert + update any row" "random(1, $rows)" "$wdelay"
echo "target: (d) >= 0.85x with the worker's pause.  A fifth of (e)'s updates aim at"
echo "expired rows: they wait when they hit a batch in progress, and find nothing once it has gone"
rm -rf "$work"
