# Perl TAP: the background worker never misses a database, marks expired
# consents, and cannot be steered by a database owner: it ignores the
# database's search_path and runs no function a name in it would find.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $ndb = 20;

my $node = PostgreSQL::Test::Cluster->new('hardening');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'personalize'
personalize.enabled = on
personalize.naptime = 1
personalize.review_ddl = off
max_worker_processes = @{[ $ndb + 10 ]}
});
$node->start;

# Databases created back to back, each with the extension at once: every
# one gets its scheduler (the launcher learns of CREATE EXTENSION at its
# commit, and a probe that ran before the commit does not stick).
for my $i (1 .. $ndb)
{
	$node->safe_psql('postgres', "CREATE DATABASE burst$i");
	$node->safe_psql("burst$i", 'CREATE EXTENSION personalize');
}
# (worker_status() is read in a database that has the extension)
ok($node->poll_query_until('burst1',
		qq{SELECT count(*) = $ndb FROM personalize.worker_status()
		    WHERE database LIKE 'burst%' AND state = 'active' AND pid IS NOT NULL}),
	"$ndb databases created back to back: a scheduler for every one");

# CREATE EXTENSION in a transaction that stays open for several naptimes:
# the launcher probes the database meanwhile and finds no extension
$node->safe_psql('postgres', 'CREATE DATABASE slow');
ok($node->poll_query_until('burst1',
		q{SELECT count(*) = 1 FROM personalize.worker_status()
		   WHERE database = 'slow' AND state = 'no extension'}),
	'a new database without the extension is probed and marked so');
my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[ 'psql', '-X', '-q', '-d', $node->connstr('slow'), '-c',
	  'BEGIN; CREATE EXTENSION personalize; SELECT pg_sleep(6); COMMIT;' ],
	'>', \$out, '2>', \$err);
sleep 3;
is($node->safe_psql('burst1',
		q{SELECT count(*) FROM personalize.worker_status() WHERE database = 'slow' AND state = 'active'}),
	'0', 'no scheduler while CREATE EXTENSION is not committed');
$h->finish;
is($err, '', 'the slow CREATE EXTENSION committed');
ok($node->poll_query_until('burst1',
		q{SELECT count(*) = 1 FROM personalize.worker_status()
		   WHERE database = 'slow' AND state = 'active' AND pid IS NOT NULL}),
	'CREATE EXTENSION in a long transaction: a scheduler once it commits');

# expired consents become "expired", in state and history, at a pass
$node->safe_psql('burst1', q{
	SELECT personalize.define_purpose('news', 'a newsletter', 'the news first');
	SELECT personalize.grant_consent('alice', 'news', 'web', now() + interval '2 seconds');
	SELECT personalize.grant_consent('bob', 'news', 'web');
});
# (the view consents says "expired" as soon as the time is past; the
# state, which the worker writes, is what this checks)
ok($node->poll_query_until('burst1',
		q{SELECT state = 'e' FROM personalize.consent WHERE subject = 'alice'}),
	'the worker marks an expired consent as expired');
is($node->safe_psql('burst1',
		q{SELECT string_agg(action || ':' || source, ',' ORDER BY event_id)
		    FROM personalize.consent_history WHERE subject = 'alice'}),
	'grant:web,expire:run_maintenance', 'and records the expiry in the history');
is($node->safe_psql('burst1',
		q{SELECT status FROM personalize.consents WHERE subject = 'bob'}),
	'granted', 'a consent without expiry stays granted');

# A database owner (not a superuser) who controls the database's
# search_path and may create objects in public tries to make the worker,
# a superuser, run a function of theirs.
$node->safe_psql('postgres', q{
	CREATE ROLE shop_owner LOGIN;
	CREATE DATABASE shop OWNER shop_owner;
});
$node->safe_psql('shop', q{
	CREATE EXTENSION personalize;
	GRANT CREATE ON SCHEMA public TO shop_owner;
	GRANT EXECUTE ON FUNCTION personalize.set_retention(regclass, name, interval, text) TO shop_owner;
});
$node->safe_psql('shop', q{
	SET ROLE shop_owner;
	CREATE TABLE public.trap_log (who name, what text);
	-- shadows of the duties, found first if the worker resolved names
	-- through the database's search_path
	CREATE FUNCTION public._trim_purge_log() RETURNS bigint LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.trap_log VALUES (current_user, '_trim_purge_log');
		ALTER ROLE shop_owner SUPERUSER;
		RETURN 0;
	END $$;
	CREATE FUNCTION public._expire_consents() RETURNS bigint LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.trap_log VALUES (current_user, '_expire_consents');
		ALTER ROLE shop_owner SUPERUSER;
		RETURN 0;
	END $$;
	-- a purged table whose trigger changes the session's search_path and
	-- tries the same
	CREATE TABLE public.events (customer_id bigint, at timestamptz NOT NULL);
	CREATE FUNCTION public.hijack() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.trap_log VALUES (current_user, 'trigger');
		PERFORM set_config('search_path', 'public, personalize', false);
		RETURN OLD;
	END $$;
	CREATE TRIGGER hijack BEFORE DELETE ON public.events
		FOR EACH ROW EXECUTE FUNCTION public.hijack();
	INSERT INTO public.events SELECT 1, now() - interval '40 days' FROM generate_series(1, 5);
	SELECT personalize.set_retention('public.events', 'at', '30 days');
});
$node->safe_psql('postgres', q{ALTER DATABASE shop SET search_path = public, personalize});
# a new scheduler session picks up the database setting
$node->safe_psql('shop', q{
	SELECT pg_terminate_backend(pid) FROM personalize.worker_status() WHERE database = 'shop'});
ok($node->poll_query_until('shop', q{SELECT count(*) = 0 FROM public.events}),
	'the worker purges the table, as its owner');
# several passes more: the duties run after the trigger changed the path
ok($node->poll_query_until('shop',
		q{SELECT w.last_cycle > a.backend_start + interval '3 seconds'
		    FROM personalize.worker_status() w JOIN pg_stat_activity a ON a.pid = w.pid
		   WHERE w.database = 'shop'}),
	'the scheduler made several passes');
is($node->safe_psql('shop', q{SELECT string_agg(DISTINCT who || ':' || what, ',') FROM public.trap_log}),
	'shop_owner:trigger', 'only the trigger ran, as the table owner; no shadow duty ran');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'shop_owner'}),
	'f', 'the database owner did not become superuser');

$node->stop;
done_testing();
