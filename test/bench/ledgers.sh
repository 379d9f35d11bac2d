#!/bin/bash
# Benchmark: what the hash chains cost.
#
#   writes   grant_consent() and withdraw_consent() on subjects that
#            already have a consent row, in a database at 0.1.0 (the
#            consent history without a chain: the released code path) and
#            in one at the current version (every event hashed and linked
#            under the ledger's append lock): the time per write of one
#            session making 5000 writes in a procedure, each committed
#            (no client round trip, which on this machine varies more than
#            the write costs), and pgbench TPS with 1 and 2 clients; the
#            cost ratio is time(current) / time(0.1.0), or
#            TPS(0.1.0) / TPS(current).  (The throwaway cluster runs with
#            fsync = off, so commits cost no flush: the lock's wait for a
#            concurrent writer's commit is not in these figures.)
#   verify   median time of verify_ledgers() over 1M consent events
#            (SCALE=1) and, side by side, of a plain read of the same
#            ledger (count and the length of every hash)
# Rounds alternate between the two databases so that drift of the machine
# falls on both alike.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

entries=$(awk -v s="$SCALE" 'BEGIN {printf "%d", 1000000 * s}')
subjects=100000
rounds=${ROUNDS:-3}
seconds=${TPS_SECONDS:-10}
runs=${RUNS:-3}
old_version=$(val "SELECT version FROM pg_available_extension_versions WHERE name = 'personalize'
                    ORDER BY string_to_array(version, '.')::int[] LIMIT 1")
new_db=$PGDATABASE
old_db=${PGDATABASE}_old

echo
echo "== ledgers: consent writes with the hash chain (current) and without ($old_version); verify over $entries entries"
"$PG_BINDIR/createdb" "$old_db"
PGDATABASE=$old_db q "CREATE EXTENSION personalize VERSION '$old_version'"
q "CREATE EXTENSION personalize"
for db in "$old_db" "$new_db"; do
	PGDATABASE=$db q "SELECT personalize.define_purpose('marketing', 'emails about offers',
	                    'early access to sales', ARRAY['user.contact.email'])"
	# every subject has a consent row already: each write is an update
	# (in batches: each grant holds its subject's lock to the end of the
	# transaction)
	for ((b = 1; b <= subjects; b += 5000)); do
		PGDATABASE=$db q "SELECT count(personalize.grant_consent(s::text, 'marketing', 'setup'))
		                    FROM generate_series($b, $((b + 4999))) s"
	done
	PGDATABASE=$db q "VACUUM ANALYZE personalize.consent"
	PGDATABASE=$db q "VACUUM ANALYZE personalize.consent_event"
done
echo "chain of the current database: $(val "SELECT entries || ' entries, intact ' || intact
                                             FROM personalize.verify_ledgers() WHERE ledger = 'consent'")"

# tps DB FUNCTION CLIENTS: pgbench TPS of FUNCTION(random subject, 'marketing')
tps() {
	local f
	f=$(mktemp)
	printf '\\set id random(1, %d)\nSELECT personalize.%s(:id::text, '"'"'marketing'"'"', '"'"'bench'"'"');\n' \
		"$subjects" "$2" >"$f"
	PGDATABASE=$1 "$PG_BINDIR/pgbench" -n -c "$3" -j "$3" -T "$seconds" -f "$f" 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
	rm -f "$f"
}
median() { sort -n | awk '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f\n", m}'; }

# the cost of one write, without a client in the loop: a procedure that
# makes N writes, each in its own transaction (COMMIT after each)
for db in "$old_db" "$new_db"; do
	PGDATABASE=$db q "CREATE PROCEDURE bench_writes(fn text, n integer) LANGUAGE plpgsql AS \$\$
	  BEGIN
	    FOR i IN 1 .. n LOOP
	      EXECUTE format('SELECT personalize.%I(\$1, ''marketing'', ''bench'')', fn)
	        USING (1 + (i * 7919) % $subjects)::text;
	      COMMIT;
	    END LOOP;
	  END \$\$"
done
writes=${WRITES:-5000}
printf '\n%-30s %12s %12s %12s\n' "us per write, 1 session" "$old_version" "chained" "cost ratio"
for fn in grant_consent withdraw_consent; do
	old=()
	new=()
	for ((r = 0; r < rounds; r++)); do
		old+=("$(PGDATABASE=$old_db time_query 1 "CALL bench_writes('$fn', $writes)")")
		new+=("$(PGDATABASE=$new_db time_query 1 "CALL bench_writes('$fn', $writes)")")
	done
	a=$(printf '%s\n' "${old[@]}" | median)
	b=$(printf '%s\n' "${new[@]}" | median)
	printf '%-30s %12.1f %12.1f %11sx\n' "$fn" "$(awk -v t="$a" -v n="$writes" 'BEGIN {print t * 1000 / n}')" \
		"$(awk -v t="$b" -v n="$writes" 'BEGIN {print t * 1000 / n}')" "$(ratio "$b" "$a")"
	echo "  (rounds, ms for $writes: $old_version ${old[*]}; chained ${new[*]})"
done

printf '\n%-30s %12s %12s %12s\n' "pgbench TPS" "$old_version" "chained" "cost ratio"
for fn in grant_consent withdraw_consent; do
	for clients in 1 2; do
		old=()
		new=()
		for ((r = 0; r < rounds; r++)); do
			old+=("$(tps "$old_db" "$fn" "$clients")")
			new+=("$(tps "$new_db" "$fn" "$clients")")
		done
		a=$(printf '%s\n' "${old[@]}" | median)
		b=$(printf '%s\n' "${new[@]}" | median)
		printf '%-30s %12.1f %12.1f %11sx\n' "$fn, $clients client(s)" "$a" "$b" "$(ratio "$a" "$b")"
		echo "  (rounds: $old_version ${old[*]}; chained ${new[*]})"
	done
done
echo "(target: a grant or withdrawal costs <= 1.3x $old_version)"
echo "chain after the writes: $(val "SELECT entries || ' entries, intact ' || intact
                                     FROM personalize.verify_ledgers() WHERE ledger = 'consent'")"

# the ledger at full size: entries written through the chain trigger, as
# the extension's writers do (one statement, many rows)
have=$(val "SELECT count(*) FROM personalize.consent_event")
if [ "$have" -lt "$entries" ]; then
	start=$(date +%s.%N)
	q "INSERT INTO personalize.consent_event (subject, purpose_id, action, source)
	   SELECT (1 + g % $subjects)::text, (SELECT purpose_id FROM personalize.purpose WHERE name = 'marketing'),
	          CASE WHEN g % 3 = 0 THEN 'withdraw' ELSE 'grant' END, 'bulk'
	     FROM generate_series(1, $entries - $have) g"
	secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
	echo "$((entries - have)) more entries chained in $secs s ($(awk -v s="$secs" -v n="$((entries - have))" 'BEGIN {printf "%.1f", s * 1e6 / n}') us each)"
	q "VACUUM ANALYZE personalize.consent_event"
fi
plain=$(time_query "$runs" "SELECT count(*), sum(length(entry_hash)) FROM personalize.consent_event")
verify=$(time_query "$runs" "SELECT * FROM personalize.verify_ledgers()")
printf '\n%-40s %12s\n' "over $(val "SELECT count(*) FROM personalize.consent_event") consent events" "median ms"
printf '%-40s %12.1f\n' "plain read of the ledger" "$plain"
printf '%-40s %12.1f   (%sx the plain read)\n' "verify_ledgers()" "$verify" "$(ratio "$verify" "$plain")"
echo "(target: verify_ledgers() over 1M entries <= 2000 ms)"
echo "verdict: $(val "SELECT string_agg(ledger || ' ' || CASE WHEN intact THEN 'intact' ELSE problem END, ', ')
                      FROM personalize.verify_ledgers()")"
"$PG_BINDIR/dropdb" "$old_db"
