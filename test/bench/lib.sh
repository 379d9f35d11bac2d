# test/bench/lib.sh -- helpers for the benchmark scripts (sourced).

# q SQL: run SQL quietly, stop on error
q() { psql -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null; }

# val SQL: print the single value SQL returns
val() { psql -X -q -v ON_ERROR_STOP=1 -At -c "$1"; }

# time_query N SQL: run SQL once to warm up, then N times; print the median
# wall time in milliseconds, as psql's \timing measures it.
time_query() {
	local n=$1 sql=$2 i
	{
		echo '\timing on'
		for ((i = 0; i <= n; i++)); do echo "$sql;"; done
	} | psql -X -q -v ON_ERROR_STOP=1 -o /dev/null 2>&1 |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n "$n" | sort -n |
		awk '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f\n", m}'
}

# ratio A B: A / B with two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# latency SQL: pgbench's average latency in milliseconds of SQL run over and
# over by one client for ${LATENCY_SECONDS:-5} seconds: what an application
# sees for a short query, round trip included
latency() {
	local f
	f=$(mktemp)
	echo "$1;" >"$f"
	"$PG_BINDIR/pgbench" -n -c 1 -T "${LATENCY_SECONDS:-5}" -f "$f" 2>/dev/null |
		sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p'
	rm -f "$f"
}
