-- sql/src/review-proxies.sql: proxy detection
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- Values never become SQL text: the bins' bounds are parameters, and
-- columns reach text through their output function (format('%s')), never
-- through a cast, which the owner of the column's type could have defined.
CREATE FUNCTION @extschema@.detect_proxies(
	tbl regclass,
	sensitive_column name,
	threshold double precision DEFAULT 0.5)
RETURNS TABLE (column_name name, association double precision, categories bigint, method text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	col record;
	names name[] := '{}';
	methods text[] := '{}';
	exprs text[] := '{}';
	ranges float8[];
	q text;
	values_list text := '';
	r record;
	phi2 float8;
	kc float8;
	rc float8;
	skipped text[] := '{}';
BEGIN
	IF tbl IS NULL OR sensitive_column IS NULL THEN
		RAISE EXCEPTION 'table and sensitive column must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@._require_relation(tbl);
	IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
		RAISE EXCEPTION 'threshold must be between 0 and 1'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM 1 FROM pg_attribute a
	 WHERE a.attrelid = tbl AND a.attname = sensitive_column AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation "%" does not exist', sensitive_column, tbl
			USING ERRCODE = 'undefined_column';
	END IF;

	-- every other column becomes a category: numbers and times in 10
	-- equal-width bins between their minimum and maximum, the rest as text
	FOR col IN
		SELECT a.attname, a.atttypid::regtype AS typ
		  FROM pg_attribute a
		 WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
		   AND a.attname <> sensitive_column
		   AND a.atttypid NOT IN ('bytea'::regtype, 'json'::regtype, 'jsonb'::regtype, 'xml'::regtype)
		 ORDER BY a.attnum
	LOOP
		names := names || col.attname;
		IF col.typ IN ('smallint', 'integer', 'bigint', 'real', 'double precision') THEN
			methods := methods || 'binned'::text;
			exprs := exprs || format('t.%I::pg_catalog.float8', col.attname);
		ELSIF col.typ = 'numeric'::regtype THEN
			-- beyond float8's range: the infinities
			methods := methods || 'binned'::text;
			exprs := exprs || format($e$CASE WHEN t.%1$I = 'NaN' THEN 'NaN'::pg_catalog.float8
			                                 WHEN t.%1$I > 1e308 THEN 'Infinity'::pg_catalog.float8
			                                 WHEN t.%1$I < -1e308 THEN '-Infinity'::pg_catalog.float8
			                                 ELSE t.%1$I::pg_catalog.float8 END$e$, col.attname);
		ELSIF col.typ IN ('date', 'timestamp without time zone', 'timestamp with time zone') THEN
			methods := methods || 'binned'::text;
			exprs := exprs || format('extract(epoch FROM t.%I)::pg_catalog.float8', col.attname);
		ELSE
			methods := methods || 'categorical'::text;
			exprs := exprs || format($e$CASE WHEN t.%1$I IS NOT NULL THEN pg_catalog.format('%%s', t.%1$I) END$e$,
			                         col.attname);
		END IF;
	END LOOP;
	IF cardinality(names) = 0 THEN
		RETURN;
	END IF;

	-- the range of the finite values of every binned column, in one pass
	SELECT string_agg(format($e$min(%1$s) FILTER (WHERE %1$s > '-Infinity' AND %1$s < 'Infinity'),
	                            max(%1$s) FILTER (WHERE %1$s > '-Infinity' AND %1$s < 'Infinity')$e$, e),
	                  ', ' ORDER BY i)
	  INTO q FROM unnest(exprs, methods) WITH ORDINALITY AS u(e, m, i) WHERE m = 'binned';
	IF q IS NOT NULL THEN
		EXECUTE format('SELECT ARRAY[%s]::pg_catalog.float8[] FROM %s t', q, tbl) INTO ranges;
	END IF;

	-- one key per column and row; the bins of the j-th binned column lie
	-- between $1[2j-1] and $1[2j], nudged up so that the maximum falls in
	-- the last bin; NaN and the infinities are bins of their own
	FOR i IN 1 .. cardinality(names) LOOP
		IF methods[i] = 'binned' THEN
			DECLARE
				j integer := (SELECT count(*) FROM unnest(methods[1:i]) m WHERE m = 'binned');
				lo float8 := ranges[2 * j - 1];
				hi float8 := ranges[2 * j];
			BEGIN
				IF lo < hi THEN
					BEGIN
						ranges[2 * j] := hi + (hi - lo) * 1e-9;
					EXCEPTION WHEN numeric_value_out_of_range THEN
						NULL;	-- the range spans all of float8: no nudge
					END;
				END IF;
				values_list := values_list || format(
					$e$, (%1$s, CASE WHEN %2$s IS NULL THEN '<null>'
					                 WHEN %2$s = 'NaN' THEN 'NaN'
					                 WHEN %2$s = 'Infinity' THEN 'Infinity'
					                 WHEN %2$s = '-Infinity' THEN '-Infinity'
					                 WHEN NOT coalesce($1[%3$s] < $1[%4$s], false) THEN '1'
					                 ELSE LEAST(pg_catalog.width_bucket(%2$s, $1[%3$s], $1[%4$s], 10), 10)::pg_catalog.text
					            END)$e$,
					i, exprs[i], 2 * j - 1, 2 * j);
			END;
		ELSE
			values_list := values_list || format(', (%s, coalesce(%s, %L))', i, exprs[i], '<null>');
		END IF;
	END LOOP;

	-- every contingency table in one scan; chi-square as n * (sum o^2/(row*col) - 1)
	q := format($q$
		WITH cells AS (
			SELECT u.i, u.k, pg_catalog.format('%%s', t.%1$I) AS s, count(*)::float8 AS o
			  FROM %2$s t CROSS JOIN LATERAL (VALUES %3$s) AS u(i, k)
			 WHERE t.%1$I IS NOT NULL
			 GROUP BY 1, 2, 3),
		rowt AS (SELECT i, k, sum(o) AS t FROM cells GROUP BY 1, 2),
		colt AS (SELECT i, s, sum(o) AS t FROM cells GROUP BY 1, 2),
		tot AS (SELECT i, sum(o) AS n FROM cells GROUP BY 1)
		SELECT c.i, tot.n,
		       tot.n * (sum(c.o * c.o / (rowt.t * colt.t)) - 1) AS chi2,
		       (SELECT count(*) FROM rowt x WHERE x.i = c.i) AS kc,
		       (SELECT count(*) FROM colt x WHERE x.i = c.i) AS rc
		  FROM cells c
		  JOIN rowt USING (i, k)
		  JOIN colt USING (i, s)
		  JOIN tot USING (i)
		 GROUP BY c.i, tot.n
		 ORDER BY c.i$q$, sensitive_column, tbl, substr(values_list, 3));

	FOR r IN EXECUTE q USING ranges LOOP
		-- a column with nearly a value per row identifies rows: its
		-- association says nothing about proxying
		IF methods[r.i] = 'categorical' AND (r.kc > 1000 OR r.kc > r.n / 2) THEN
			skipped := skipped || names[r.i]::text;
			CONTINUE;
		END IF;
		-- Cramer's V with the bias correction of Bergsma (2013)
		phi2 := greatest(0, r.chi2 / r.n - (r.kc - 1) * (r.rc - 1) / greatest(r.n - 1, 1));
		kc := r.kc - (r.kc - 1) ^ 2 / greatest(r.n - 1, 1);
		rc := r.rc - (r.rc - 1) ^ 2 / greatest(r.n - 1, 1);
		column_name := names[r.i];
		association := CASE WHEN least(kc, rc) > 1 THEN sqrt(phi2 / (least(kc, rc) - 1)) ELSE 0 END;
		categories := r.kc;
		method := methods[r.i];
		IF association >= threshold THEN
			RETURN NEXT;
		END IF;
	END LOOP;
	IF cardinality(skipped) > 0 THEN
		RAISE NOTICE 'skipped columns with about one value per row: %', array_to_string(skipped, ', ')
			USING HINT = 'An identifier predicts every attribute of its own row; proxies are columns many rows share.';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.detect_proxies(regclass, name, double precision) IS
	'columns whose values predict a sensitive column (bias-corrected Cramer''s V at or above threshold)';

--------------------------------------------------------------------------

-- detect_proxies() runs as its caller, whose privileges on the table decide.
