-- pgTAP: the monthday type's catalog entries: the type, its operators,
-- its btree and hash operator classes, and its casts.
BEGIN;
SELECT plan(21);

SELECT has_type('personalize', 'monthday', 'type monthday exists');
SELECT is((SELECT typlen::int FROM pg_type WHERE oid = 'personalize.monthday'::regtype), 4,
          'monthday is fixed length, 4 bytes');
SELECT ok((SELECT typbyval FROM pg_type WHERE oid = 'personalize.monthday'::regtype),
          'monthday is passed by value');
SELECT has_type('personalize', '_monthday', 'monthday[] exists');

SELECT has_operator('personalize.monthday', 'personalize', op::name, 'personalize.monthday', 'boolean',
                    format('operator %s on monthday', op))
  FROM unnest(ARRAY['=', '<>', '<', '<=', '>', '>=']) AS op;

SELECT has_opclass('personalize', 'monthday_ops', 'btree operator class exists');
SELECT has_opclass('personalize', 'monthday_hash_ops', 'hash operator class exists');
SELECT is((SELECT opcdefault FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
            WHERE c.opcname = 'monthday_ops' AND a.amname = 'btree'),
          true, 'btree operator class is the default for monthday');
SELECT is((SELECT opcdefault FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
            WHERE c.opcname = 'monthday_hash_ops' AND a.amname = 'hash'),
          true, 'hash operator class is the default for monthday');
SELECT is((SELECT count(*)::int FROM pg_amop o JOIN pg_opfamily f ON f.oid = o.amopfamily
            WHERE f.opfname = 'monthday_ops'), 5, 'btree family has the five strategies');
SELECT ok((SELECT oprcanmerge AND oprcanhash FROM pg_operator
            WHERE oprname = '=' AND oprleft = 'personalize.monthday'::regtype),
          '= supports merge and hash joins');

SELECT has_cast('date', 'personalize.monthday', 'cast from date');
SELECT has_cast('timestamp without time zone', 'personalize.monthday', 'cast from timestamp');
SELECT has_cast('timestamp with time zone', 'personalize.monthday', 'cast from timestamptz');
SELECT cast_context_is('date', 'personalize.monthday', 'explicit',
                       'the cast from date is explicit: dropping the year is a decision');

SELECT volatility_is('personalize', 'monthday', ARRAY['timestamp with time zone'], 'stable',
                     'timestamptz cast depends on TimeZone, so it is stable');

SELECT * FROM finish();
ROLLBACK;
