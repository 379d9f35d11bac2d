#!/bin/bash
# Benchmark: reading a protected table through an access grant.
#
# A support team's cases table, 1M rows over 100k customers (SCALE=1), in
# two identical copies: "cases_open" as it is without personalize, readable
# by the agent through a plain GRANT SELECT, and "cases" under protect(),
# where the agent reads through grant_access() for the purpose "support"
# (lawful basis: contract; 10% of customers objected, so their rows stay
# hidden).  The agent is a login role; each figure is the agent's:
#   point   pgbench TPS of "SELECT ... WHERE case_id = :random" (2 clients)
#   scan    median time of count(*) and of an aggregate over the table
# Rounds alternate between the two copies so that drift of the machine
# falls on both alike.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rows=$(awk -v s="$SCALE" 'BEGIN {printf "%d", 1000000 * s}')
customers=$((rows / 10))
runs=${RUNS:-5}
rounds=${ROUNDS:-3}
seconds=${TPS_SECONDS:-10}

echo
echo "== access: $rows cases over $customers customers, read by a role with a grant"
q "CREATE EXTENSION personalize"
q "SELECT personalize.define_purpose('support', 'answering a customer''s cases',
     'help with what you bought', lawful_basis => 'contract')"
q "CREATE ROLE agent LOGIN"
q "CREATE ROLE lead"
start=$(date +%s.%N)
for t in cases cases_open; do
	q "CREATE TABLE $t (case_id bigint PRIMARY KEY, customer_id bigint NOT NULL,
	     opened_at timestamptz NOT NULL, state text NOT NULL, summary text NOT NULL)"
	q "INSERT INTO $t
	   SELECT i, 1 + (i * 7919) % $customers,
	          '2026-01-01'::timestamptz + (i % 300) * interval '1 day',
	          (ARRAY['open','waiting','closed'])[1 + i % 3],
	          'case ' || i || ': the parcel did not arrive'
	     FROM generate_series(1::bigint, $rows) AS i"
	q "GRANT SELECT ON $t TO agent"
	q "VACUUM ANALYZE $t"
done
# objections written directly (withdraw_consent() per customer would only
# make the set-up slow)
q "INSERT INTO personalize.consent (purpose_id, state, subject, updated_at, event_id)
   SELECT (SELECT purpose_id FROM personalize.purpose WHERE name = 'support'), 'w', s::text, now(), 0
     FROM generate_series(1, $customers) AS s
    WHERE s % 10 = 9"
q "VACUUM ANALYZE personalize.consent"
q "SELECT personalize.register_table('cases', 'customer_id')"
q "SELECT personalize.protect('cases')"
q "SELECT personalize.add_access_approver('lead', 'cases')"
q "SET ROLE lead; SELECT personalize.grant_access('agent', 'cases', 'support', '8 hours', 'benchmark')"
echo "data generated in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.0f", e - s}') s"

# the agent connects without the superuser-only settings run-bench passes
as_agent() { PGUSER=agent PGOPTIONS= "$@"; }
expected=$(val "SELECT count(*) FROM cases_open WHERE customer_id % 10 <> 9")
got=$(as_agent val "SELECT count(*) FROM cases")
if [ "$expected" != "$got" ]; then
	echo "MISMATCH: the agent reads $got cases, $expected belong to customers who did not object" >&2
	exit 1
fi
echo "correctness: the agent reads the $got cases of customers who did not object"
echo "plan of the point select on the protected table:"
as_agent psql -X -q -At -c "EXPLAIN (COSTS OFF) SELECT summary FROM cases WHERE case_id = 42" | sed 's/^/  /'

# tps TABLE: pgbench TPS of random point selects by primary key, as agent
tps() {
	local f
	f=$(mktemp)
	printf '\\set id random(1, %d)\nSELECT state, summary FROM %s WHERE case_id = :id;\n' "$rows" "$1" >"$f"
	PGUSER=agent PGOPTIONS= "$PG_BINDIR/pgbench" -n -c 2 -j 2 -T "$seconds" -f "$f" 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
	rm -f "$f"
}
median() { sort -n | awk '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f\n", m}'; }

open_tps=()
prot_tps=()
for ((r = 0; r < rounds; r++)); do
	open_tps+=("$(tps cases_open)")
	prot_tps+=("$(tps cases)")
done
a=$(printf '%s\n' "${open_tps[@]}" | median)
b=$(printf '%s\n' "${prot_tps[@]}" | median)
printf '\n%-22s %12s %12s %9s\n' "agent, pgbench" "open TPS" "protected" "ratio"
printf '%-22s %12.1f %12.1f %8sx\n' "point select by PK" "$a" "$b" "$(ratio "$b" "$a")"
echo "  (rounds: open ${open_tps[*]}; protected ${prot_tps[*]})"

# "filtered" is the open table with a filter on the subject column that
# keeps every row: the cost of any per-row filter at all (the count then
# reads the column from each row)
printf '\n%-22s %10s %10s %10s %9s %9s\n' "agent, full scan" "open ms" "filtered" "protected" "prot/open" "prot/filt"
scan_row() {
	local name=$1 select=$2 tail=$3 a f b
	a=$(as_agent time_query "$runs" "$select FROM cases_open $tail")
	f=$(as_agent time_query "$runs" "$select FROM cases_open WHERE customer_id > 0 $tail")
	b=$(as_agent time_query "$runs" "$select FROM cases $tail")
	printf '%-22s %10.1f %10.1f %10.1f %8sx %8sx\n' "$name" "$a" "$f" "$b" "$(ratio "$b" "$a")" "$(ratio "$b" "$f")"
}
scan_row "count(*)" "SELECT count(*)" ""
scan_row "aggregate" "SELECT state, count(*), max(opened_at)" "GROUP BY state"
echo "(targets: point TPS >= 0.85x open, full scan <= 1.5x open)"
