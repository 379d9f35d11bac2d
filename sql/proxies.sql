-- sql/proxies.sql: proxy detection
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- Proxy detection
--------------------------------------------------------------------------

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
		IF col.typ IN ('smallint', 'integer', 'bigint', 'numeric', 'real', 'double precision') THEN
			methods := methods || 'binned'::text;
			exprs := exprs || format('t.%I::float8', col.attname);
		ELSIF col.typ IN ('date', 'timestamp without time zone', 'timestamp with time zone') THEN
			methods := methods || 'binned'::text;
			exprs := exprs || format('extract(epoch FROM t.%I)::float8', col.attname);
		ELSE
			methods := methods || 'categorical'::text;
			exprs := exprs || format('t.%I::text', col.attname);
		END IF;
	END LOOP;
	IF cardinality(names) = 0 THEN
		RETURN;
	END IF;

	-- the range of every binned column, in one pass
	SELECT string_agg(format('min(%1$s), max(%1$s)', e), ', ' ORDER BY i)
	  INTO q FROM unnest(exprs, methods) WITH ORDINALITY AS u(e, m, i) WHERE m = 'binned';
	IF q IS NOT NULL THEN
		EXECUTE format('SELECT ARRAY[%s]::float8[] FROM %s t', q, tbl) INTO ranges;
	END IF;

	-- one key per column and row
	q := '';
	FOR i IN 1 .. cardinality(names) LOOP
		IF methods[i] = 'binned' THEN
			-- the bins of the i-th binned column are ranges[2j-1 .. 2j]
			DECLARE
				j integer := (SELECT count(*) FROM unnest(methods[1:i]) m WHERE m = 'binned');
				lo float8 := ranges[2 * j - 1];
				hi float8 := ranges[2 * j];
			BEGIN
				values_list := values_list || format(', (%s, coalesce(%s::text, %L))', i,
					CASE WHEN lo IS NULL OR hi <= lo THEN '1'
					     ELSE format('width_bucket(%s, %s::float8, %s::float8, 10)', exprs[i], lo,
					                 hi + (hi - lo) * 1e-9) END,
					'<null>');
			END;
		ELSE
			values_list := values_list || format(', (%s, coalesce(%s, %L))', i, exprs[i], '<null>');
		END IF;
	END LOOP;

	-- every contingency table in one scan; chi-square as n * (sum o^2/(row*col) - 1)
	q := format($q$
		WITH cells AS (
			SELECT u.i, u.k, t.%1$I::text AS s, count(*)::float8 AS o
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

	FOR r IN EXECUTE q LOOP
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
