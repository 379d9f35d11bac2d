#!/bin/bash
# Benchmark: match() against SQL baselines, on catalogs of 100k and 1M
# offers (SCALE=1).
#
# Catalog: a vocabulary of 2,000 tags, skewed (tag rank r = 1 + floor(2000 u^2)
# for uniform u, so the most common tag is on 17% of offers and the median
# one on 0.3%); about 8 tags per offer, weights 0.5 to 2; 3% of
# offers expired, 2% not started, 2% disabled.  Subjects: 2,000, each with
# consent to personalization, 16 intents from the same skewed vocabulary
# (2 of them "avoid"), 30 view or click signals of the last 60 days and 20
# purchases of the last 90 days (each a purchase signal on the main tag of
# the offer bought, as record_purchase() writes them).  k = 10.
#
# Methods, on the same data, in the same run:
#   match()  the C inverted index (shared by the sessions when preloaded)
#   (a)      SQL: the subject's tag affinities joined to offer_tags through a
#            covering index on (tag), GROUP BY offer, ORDER BY score LIMIT k
#   (b)      intarray: a GIN index on each offer's tag array finds the
#            candidates (&&), SQL scores them from the arrays (idx())
# First a correctness check: for 50 subjects, match() and both baselines
# give the same top 10 (computed in one statement, so at one statement
# time); then latency p50/p95 through pgbench (prepared statements, 1 and 2
# clients), and the time to build match()'s index.  Then, on the largest
# catalog, under change: 16 clients calling match() (then baseline (a))
# while one more changes 10 offers a second; p50/p95/p99, a new
# connection's first call, and the memory the catalog takes across the 16
# sessions.  Exits non-zero on a mismatch.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_BINDIR=$("${PG_CONFIG:-pg_config}" --bindir)
seconds=${BENCH_SECONDS:-10}
subjects=2000
k=10
sizes=$(awk -v s="$SCALE" 'BEGIN {printf "%d %d", 100000 * s, 1000000 * s}')
work=$(mktemp -d /tmp/personalize-bench-match.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo
echo "== match: catalogs of $(echo "$sizes" | sed 's/ / and /') offers, 2000 tags, $subjects subjects, k = $k"
q "CREATE EXTENSION personalize"
q "CREATE EXTENSION intarray"
q "SELECT count(personalize.define_tag('t' || lpad(i::text, 4, '0'), 'user.preference', 'interest ' || i))
     FROM generate_series(1, 2000) i"
q "SELECT count(personalize.grant_consent(s::text, 'personalization', 'bench'))
     FROM generate_series(1, $subjects) s"
# baseline (b): each offer's tags as an int array (filled by generate)
q "CREATE TABLE bench_offers_ia (offer_id text COLLATE \"C\" PRIMARY KEY, tags int[] NOT NULL,
     weights real[] NOT NULL, enabled boolean NOT NULL, starts_at timestamptz, ends_at timestamptz)"

# The baselines, as SQL functions (inlined by the planner) so that pgbench
# and the correctness check run the same text.  Both read the subject's
# intents and signals exactly as match() does.
q "CREATE FUNCTION bench_affinity(subj text) RETURNS TABLE (tag text, aff float8)
   LANGUAGE sql STABLE AS \$\$
	WITH i AS (SELECT i.tag, i.weight FROM personalize.intent i WHERE i.subject = subj)
	SELECT x.tag, sum(x.w)
	  FROM (SELECT i.tag, i.weight::float8 AS w FROM i
	        UNION ALL
	        SELECT s.tag, s.weight * power(2::float8,
	                 -(greatest(extract(epoch FROM statement_timestamp() - s.at), 0)::float8
	                   / extract(epoch FROM current_setting('personalize.signal_half_life')::interval)::float8))
	          FROM personalize.signal s WHERE s.subject = subj) x
	 WHERE x.tag NOT IN (SELECT i.tag FROM i WHERE i.weight < 0)
	 GROUP BY x.tag HAVING sum(x.w) <> 0
   \$\$"
q "CREATE FUNCTION bench_a(subj text, k integer) RETURNS TABLE (offer_id text, score float8)
   LANGUAGE sql STABLE ROWS 10 AS \$\$
	WITH p AS (SELECT * FROM bench_affinity(subj)),
	scored AS (
		SELECT ot.offer_id, sum(p.aff * ot.weight) AS score
		  FROM p JOIN personalize.offer_tags ot ON ot.tag = p.tag
		 GROUP BY ot.offer_id)
	SELECT s.offer_id, s.score
	  FROM scored s JOIN personalize.offers o ON o.offer_id = s.offer_id
	 WHERE s.score > 0 AND o.enabled
	   AND (o.starts_at IS NULL OR o.starts_at <= statement_timestamp())
	   AND (o.ends_at IS NULL OR o.ends_at > statement_timestamp())
	   AND NOT EXISTS (SELECT 1 FROM personalize.offer_tags x JOIN personalize.intent i ON i.tag = x.tag
	                    WHERE i.subject = subj AND i.weight < 0 AND x.offer_id = s.offer_id)
	   AND s.offer_id NOT IN (SELECT g.offer_id FROM personalize.signal g
	                           WHERE g.subject = subj AND g.kind = 'purchase' AND g.offer_id IS NOT NULL)
	   AND personalize.has_consent(subj, 'personalization')
	 ORDER BY s.score DESC, s.offer_id
	 LIMIT k
   \$\$"
q "CREATE FUNCTION bench_b(subj text, k integer) RETURNS TABLE (offer_id text, score float8)
   LANGUAGE sql STABLE ROWS 10 AS \$\$
	WITH q AS (
		SELECT array_agg(substr(p.tag, 2)::int) AS ids, array_agg(p.aff) AS affs
		  FROM bench_affinity(subj) p),
	av AS (
		SELECT coalesce(array_agg(substr(i.tag, 2)::int), '{}') AS ids
		  FROM personalize.intent i WHERE i.subject = subj AND i.weight < 0)
	SELECT o.offer_id, s.score
	  FROM q, av, bench_offers_ia o,
	       LATERAL (SELECT sum(q.affs[idx(q.ids, u.t)] * u.w) AS score
	                  FROM unnest(o.tags, o.weights) u(t, w)) s
	 WHERE o.tags && q.ids AND NOT (o.tags && av.ids)
	   AND s.score > 0 AND o.enabled
	   AND (o.starts_at IS NULL OR o.starts_at <= statement_timestamp())
	   AND (o.ends_at IS NULL OR o.ends_at > statement_timestamp())
	   AND o.offer_id NOT IN (SELECT g.offer_id FROM personalize.signal g
	                           WHERE g.subject = subj AND g.kind = 'purchase' AND g.offer_id IS NOT NULL)
	   AND personalize.has_consent(subj, 'personalization')
	 ORDER BY s.score DESC, o.offer_id
	 LIMIT k
   \$\$"
# canonical order for comparing: scores rounded to 9 decimals, then offer_id
# (sums of float8 terms added in another order differ in their last bits)
q "CREATE FUNCTION bench_canonical(ids text[], scores float8[], k integer) RETURNS text[]
   LANGUAGE sql IMMUTABLE AS \$\$
	SELECT array_agg(t.id || '=' || t.r ORDER BY t.r DESC, t.id COLLATE \"C\")
	  FROM (SELECT u.id, round(u.sc::numeric, 9) AS r FROM unnest(ids, scores) u(id, sc)
	         ORDER BY r DESC, u.id COLLATE \"C\" LIMIT k) t
   \$\$"

# generate N: a catalog of N offers, and the subjects' intents and signals
generate() {
	local n=$1
	# loaded without per-row foreign key checks: the generated rows are
	# consistent; the statement triggers then record one catalog change
	psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<-SQL
		SET client_min_messages = warning;
		DROP INDEX IF EXISTS personalize.bench_offer_tags_cover;
		DROP INDEX IF EXISTS bench_offers_ia_tags;
		TRUNCATE bench_offers_ia;
		TRUNCATE personalize.signal, personalize.intent;
		TRUNCATE personalize.offer_tags, personalize.offers;
		SET session_replication_role = replica;
		SELECT setseed(0.42);
		INSERT INTO personalize.offers (offer_id, title, priority, starts_at, ends_at, enabled)
		SELECT 'offer-' || lpad(i::text, 7, '0'), 'Offer ' || i, floor(random() * 100)::int,
		       CASE WHEN i % 50 = 1 THEN now() + interval '10 days' END,
		       CASE WHEN i % 33 = 2 AND i % 50 <> 1 THEN now() - interval '10 days' END,
		       i % 50 <> 3
		  FROM generate_series(1, $n) i;
		INSERT INTO personalize.offer_tags (offer_id, tag, weight)
		SELECT DISTINCT ON (o, t) 'offer-' || lpad(o::text, 7, '0'), 't' || lpad(t::text, 4, '0'), w
		  FROM (SELECT i AS o, 1 + floor(2000 * power(random(), 2))::int AS t,
		               (1 + floor(random() * 4)) * 0.5 AS w
		          FROM generate_series(1, $n) i, generate_series(1, 8) j) x
		 ORDER BY o, t;
		INSERT INTO personalize.intent (subject, tag, weight)
		SELECT DISTINCT ON (s, t) s::text, 't' || lpad(t::text, 4, '0'),
		       CASE WHEN j <= 2 THEN -1 ELSE 1 + floor(random() * 5) END
		  FROM (SELECT s, j, 1 + floor(2000 * power(random(), 2))::int AS t
		          FROM generate_series(1, $subjects) s, generate_series(1, 16) j) x
		 ORDER BY s, t, j;
		-- behaviour arrives over time, interleaved across subjects
		INSERT INTO personalize.signal (subject, tag, kind, weight, at, offer_id)
		SELECT * FROM (
			SELECT s::text, 't' || lpad((1 + floor(2000 * power(random(), 2)))::int::text, 4, '0'),
			       CASE WHEN random() < 0.7 THEN 'view' ELSE 'click' END, 1::real,
			       now() - random() * interval '60 days', NULL::text
			  FROM generate_series(1, $subjects) s, generate_series(1, 30) j
			UNION ALL
			SELECT p.s::text, m.tag, 'purchase', 1::real, p.at, p.offer_id
			  FROM (SELECT s, 'offer-' || lpad((1 + floor(random() * $n))::int::text, 7, '0') AS offer_id,
			               now() - random() * interval '90 days' AS at
			          FROM generate_series(1, $subjects) s, generate_series(1, 20) j) p
			  CROSS JOIN LATERAL (SELECT ot.tag FROM personalize.offer_tags ot
			                       WHERE ot.offer_id = p.offer_id
			                       ORDER BY ot.weight DESC, ot.tag LIMIT 1) m) x
		 ORDER BY random();
		RESET session_replication_role;
		DELETE FROM personalize.offers WHERE false;
		-- baseline (a): a covering index on offer_tags (tag)
		CREATE INDEX bench_offer_tags_cover ON personalize.offer_tags (tag) INCLUDE (offer_id, weight);
		-- baseline (b): each offer's tags as an int array, GIN-indexed
		INSERT INTO bench_offers_ia
		SELECT o.offer_id, t.tags, t.weights, o.enabled, o.starts_at, o.ends_at
		  FROM personalize.offers o
		  JOIN (SELECT ot.offer_id, array_agg(substr(ot.tag, 2)::int ORDER BY ot.tag) AS tags,
		               array_agg(ot.weight ORDER BY ot.tag) AS weights
		          FROM personalize.offer_tags ot GROUP BY ot.offer_id) t USING (offer_id);
		CREATE INDEX bench_offers_ia_tags ON bench_offers_ia USING gin (tags gin__int_ops);
		VACUUM ANALYZE personalize.offers, personalize.offer_tags, personalize.intent,
		               personalize.signal, personalize.consent, bench_offers_ia;
	SQL
}

# pct LOGPREFIX: p50 and p95 in ms of a pgbench run's per-transaction log,
# leaving out each client's first transaction (it builds match()'s cache;
# the build is reported on its own)
pct() {
	cat "$1".* | awk '$2 > 0 {print $3}' | sort -n |
		awk '{a[NR] = $1} END {
			if (NR == 0) {print "- -"; exit}
			i50 = int(0.50 * NR + 0.999999); i95 = int(0.95 * NR + 0.999999)
			printf "%.3f %.3f %d\n", a[i50] / 1000, a[i95] / 1000, NR}'
}

# latency METHOD SQL CLIENTS: "p50 p95 n" through pgbench
latency() {
	local name=$1 sql=$2 clients=$3 script="$work/$1.sql" prefix="$work/log-$1-$3"
	printf '\\set s random(1, %d)\n%s;\n' "$subjects" "$sql" >"$script"
	rm -f "$prefix".*
	"$PG_BINDIR/pgbench" -n -M prepared -f "$script" -c "$clients" -j "$clients" -T "$seconds" \
		-l --log-prefix="$prefix" >"$work/pgbench-$name-$clients.log" 2>&1 ||
		{ cat "$work/pgbench-$name-$clients.log" >&2; exit 1; }
	pct "$prefix"
}

declare -A p50
for n in $sizes; do
	start=$(date +%s.%N)
	generate "$n"
	echo
	echo "-- $n offers: $(val "SELECT count(*) FROM personalize.offer_tags") offer tags, $(val "SELECT count(*) FROM personalize.signal") signals; generated in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.0f", e - s}') s"

	# the cache, built by a new session's first call
	out=$(psql -X -q -At -F ' ' <<-SQL
		\timing on
		SELECT count(*) FROM personalize.match('1', $k);
		\timing off
		SELECT build_ms, memory_bytes, postings FROM personalize.match_cache_info();
	SQL
	)
	first=$(echo "$out" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
	read -r build mem postings < <(echo "$out" | tail -n 1)
	printf 'cache build: %.0f ms for %s postings, %.1f MB (first call of a session: %.0f ms)\n' \
		"$build" "$postings" "$(awk -v m="$mem" 'BEGIN {print m / 1048576}')" "$first"

	# correctness: the same top k, for 50 subjects, in one statement each
	bad=$(val "SELECT string_agg(s::text, ', ')
	             FROM generate_series(1, $subjects, $((subjects / 50))) s,
	                  LATERAL (SELECT bench_canonical(array_agg(m.offer_id), array_agg(m.score), $k) AS c
	                             FROM personalize.match(s::text, $((k + 10))) m) ours,
	                  LATERAL (SELECT bench_canonical(array_agg(a.offer_id), array_agg(a.score), $k) AS c
	                             FROM bench_a(s::text, $((k + 10))) a) a,
	                  LATERAL (SELECT bench_canonical(array_agg(b.offer_id), array_agg(b.score), $k) AS c
	                             FROM bench_b(s::text, $((k + 10))) b) b
	            WHERE ours.c IS DISTINCT FROM a.c OR ours.c IS DISTINCT FROM b.c
	               OR cardinality(ours.c) IS DISTINCT FROM $k")
	if [ -n "$bad" ]; then
		echo "MISMATCH: match() and the SQL baselines disagree for subjects $bad" >&2
		exit 1
	fi
	echo "correctness: match(), (a) and (b) give the same top $k for 50 subjects"

	printf '%-34s %9s %9s %9s %9s %11s\n' "method" "p50 1c" "p95 1c" "p50 2c" "p95 2c" "p50 vs (a)"
	for m in a ours b; do
		case $m in
			ours) label="match() (C, inverted index)"; sql="SELECT * FROM personalize.match(:s::text, $k)" ;;
			a) label="(a) SQL join + GROUP BY"; sql="SELECT * FROM bench_a(:s::text, $k)" ;;
			b) label="(b) intarray GIN + SQL scoring"; sql="SELECT * FROM bench_b(:s::text, $k)" ;;
		esac
		read -r a50 a95 _ < <(latency "$m" "$sql" 1)
		read -r c50 c95 _ < <(latency "$m" "$sql" 2)
		p50[$n:$m]=$a50
		printf '%-34s %9s %9s %9s %9s %10sx\n' "$label" "$a50" "$a95" "$c50" "$c95" "$(ratio "${p50[$n:a]}" "$a50")"
	done
done
echo "(latency in ms through pgbench -M prepared, ${seconds} s per run, each client's first call left out;"
echo " speed-up = p50 of (a) / p50 of the method, 1 client)"


# ---------------------------------------------------------------------------
# Under change: the largest catalog, 16 clients calling match() (then the SQL
# baseline (a)) while one more client changes 10 offers a second (priority,
# window or a tag weight, one offer per transaction).
# ---------------------------------------------------------------------------
clients=${LIVE_CLIENTS:-16}
n=${sizes##* }
cat >"$work/writer.sql" <<-SQL
	\set r random(1, 3)
	\set o random(1, $n)
	\if :r = 1
	UPDATE personalize.offers SET priority = floor(random() * 100)::int WHERE offer_id = 'offer-' || lpad(:o::text, 7, '0');
	\elif :r = 2
	UPDATE personalize.offers SET ends_at = now() + interval '40 days' + random() * interval '30 days' WHERE offer_id = 'offer-' || lpad(:o::text, 7, '0');
	\else
	UPDATE personalize.offer_tags SET weight = (1 + floor(random() * 4)) * 0.5 WHERE offer_id = 'offer-' || lpad(:o::text, 7, '0');
	\endif
SQL

# pct3 LOGPREFIX: p50, p95 and p99 in ms, each client's first call left out
pct3() {
	cat "$1".* | awk '$2 > 0 {print $3}' | sort -n |
		awk '{a[NR] = $1} END {
			if (NR == 0) {print "- - - 0"; exit}
			printf "%.3f %.3f %.3f %d\n", a[int(0.50 * NR + 0.999999)] / 1000,
				a[int(0.95 * NR + 0.999999)] / 1000, a[int(0.99 * NR + 0.999999)] / 1000, NR}'
}

# live METHOD SQL: "p50 p95 p99 n changes" with the writer running
live() {
	local name=$1 sql=$2 script="$work/live-$1.sql" prefix="$work/live-log-$1" before after
	printf '\\set s random(1, %d)\n%s;\n' "$subjects" "$sql" >"$script"
	rm -f "$prefix".*
	before=$(val "SELECT version FROM personalize.match_catalog_version")
	"$PG_BINDIR/pgbench" -n -f "$work/writer.sql" -c 1 -R 10 -T "$seconds" >"$work/writer-$name.log" 2>&1 &
	local writer=$!
	"$PG_BINDIR/pgbench" -n -M prepared -f "$script" -c "$clients" -j "$clients" -T "$seconds" \
		-l --log-prefix="$prefix" >"$work/live-$name.log" 2>&1 ||
		{ cat "$work/live-$name.log" >&2; exit 1; }
	wait "$writer" || { cat "$work/writer-$name.log" >&2; exit 1; }
	after=$(val "SELECT version FROM personalize.match_catalog_version")
	echo "$(pct3 "$prefix") $((after - before))"
}

echo
echo "-- under change: $n offers, $clients clients, one more changing 10 offers a second, ${seconds} s per run"
# the shared index exists (built above); a new session's first match()
firsts=$(for i in 1 2 3 4 5; do
	psql -X -q -At <<-SQL | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
		\timing on
		SELECT count(*) FROM personalize.match('$i', $k);
	SQL
done | sort -n | sed -n 3p)
read -r shared_bytes shared_ms < <(val "SELECT count(*) FROM personalize.match('1', $k); SELECT shared_bytes, round(shared_build_ms) FROM personalize.match_cache_info()" | tail -n 1 | tr '|' ' ')
printf 'first match() of a new connection: %.2f ms (median of 5; the shared index, %.1f MB, was built once in %s ms)\n' \
	"$firsts" "$(awk -v m="$shared_bytes" 'BEGIN {print m / 1048576}')" "$shared_ms"

read -r o50 o95 o99 on ochanges < <(live ours "SELECT * FROM personalize.match(:s::text, $k)")
read -r a50 a95 a99 an achanges < <(live a "SELECT * FROM bench_a(:s::text, $k)")
printf '%-34s %9s %9s %9s %9s %9s %11s\n' "method, $clients clients + writer" "p50" "p95" "p99" "calls" "changes" "p50 vs (a)"
printf '%-34s %9s %9s %9s %9s %9s %10sx\n' "match() (C, shared index)" "$o50" "$o95" "$o99" "$on" "$ochanges" "$(ratio "$a50" "$o50")"
printf '%-34s %9s %9s %9s %9s %9s %10sx\n' "(a) SQL join + GROUP BY" "$a50" "$a95" "$a99" "$an" "$achanges" "1.00"

# memory: the shared index once, plus what each of $clients sessions keeps
# of its own (its view of the index and its overlay), each measured by the
# session itself after a match()
private=0
overlay=0
for i in $(seq 1 "$clients"); do
	read -r p ov < <(val "SELECT count(*) FROM personalize.match('$i', $k);
		SELECT (SELECT coalesce(sum(total_bytes), 0) FROM pg_backend_memory_contexts
		         WHERE name LIKE 'personalize match%') || ' ' || overlay_offers
		  FROM personalize.match_cache_info()" | tail -n 1)
	private=$((private + p))
	overlay=$ov
done
read -r one < <(val "SELECT shared_bytes FROM personalize.match_cache_info()")
printf 'memory for the catalog across %d sessions: %.1f MB shared + %.1f MB their own = %.2fx one index of %.1f MB (each private, as in 0.2.0: %dx); overlay: %s offers\n' \
	"$clients" "$(awk -v m="$one" 'BEGIN {print m / 1048576}')" "$(awk -v m="$private" 'BEGIN {print m / 1048576}')" \
	"$(awk -v o="$one" -v p="$private" 'BEGIN {printf "%.2f", (o + p) / o}')" \
	"$(awk -v m="$one" 'BEGIN {print m / 1048576}')" "$clients" "$overlay"
val "SELECT count(*) FROM generate_series(1, 200) s, personalize.match(s::text, $k);
	SELECT format('pruning, 200 subjects: %s of %s blocks and %s of %s postings skipped',
	blocks_skipped, blocks_scored + blocks_skipped, postings_skipped, postings_scored + postings_skipped)
	FROM personalize.match_cache_info()" | tail -n 1

if [ "$sizes" = "100000 1000000" ]; then
	verdict() { awk -v x="$1" -v t="$2" 'BEGIN {print (x >= t) ? "met" : "NOT met"}'; }
	s100=$(ratio "${p50[100000:a]}" "${p50[100000:ours]}")
	s1m=$(ratio "${p50[1000000:a]}" "${p50[1000000:ours]}")
	echo "targets: >= 30x (a) at 100k: ${s100}x, $(verdict "$s100" 30);" \
		">= 100x (a) at 1M: ${s1m}x, $(verdict "$s1m" 100);" \
		"p50 <= 0.5 ms at 100k: ${p50[100000:ours]} ms, $(awk -v x="${p50[100000:ours]}" 'BEGIN {print (x <= 0.5) ? "met" : "NOT met"}')"
	atmost() { awk -v x="$1" -v t="$2" 'BEGIN {print (x <= t) ? "met" : "NOT met"}'; }
	mem_ratio=$(awk -v o="$one" -v p="$private" 'BEGIN {printf "%.2f", (o + p) / o}')
	echo "targets under change at 1M, $clients clients: p50 <= 1.0 ms: $o50 ms, $(atmost "$o50" 1.0);" \
		"p99 <= 5 ms: $o99 ms, $(atmost "$o99" 5);" \
		"first call of a new connection <= 5 ms: $firsts ms, $(atmost "$firsts" 5);" \
		"memory <= 1.5x one index: ${mem_ratio}x, $(atmost "$mem_ratio" 1.5)"
else
	echo "(the targets are for SCALE=1: 100k and 1M offers)"
fi
