# Perl TAP: the background worker.  It starts with the server, finds
# databases with the extension, purges within one naptime, follows SIGHUP,
# survives kill -9 and an immediate shutdown in the middle of a purge
# without deleting a row outside its rule, serves two databases, lets
# DROP EXTENSION and DROP DATABASE through, and does nothing on a standby.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'personalize'
personalize.enabled = on
personalize.naptime = 1
personalize.purge_batch_size = 100
personalize.review_ddl = off
max_worker_processes = 8
log_min_messages = log
restart_after_crash = on
});
$node->start;

# a scheduler for the database with the extension, none for the others
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'personalize launcher'"),
	'the launcher starts with the server');

# set up a table of cases in a database: rows "resolved" and 100 days old
# go after 90 days; open or recent rows stay
sub setup_db
{
	my ($db, $rows) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
		CREATE EXTENSION personalize;
		CREATE TABLE cases (case_id int PRIMARY KEY, customer_id bigint, status text,
		                    closed_at timestamptz NOT NULL);
		CREATE INDEX ON cases (closed_at);
		INSERT INTO cases SELECT i, i % 97,
		       CASE WHEN i % 2 = 0 THEN 'resolved' ELSE 'open' END,
		       now() - CASE WHEN i % 4 < 2 THEN interval '100 days' ELSE interval '10 days' END
		  FROM generate_series(1, $rows) i;
		SELECT personalize.register_table('cases', 'customer_id');
	});
}

my $expired_q = q{SELECT count(*) FROM cases WHERE status = 'resolved' AND closed_at < now() - interval '90 days'};
my $kept_q = q{SELECT count(*) FROM cases WHERE NOT (status = 'resolved' AND closed_at < now() - interval '90 days')};

setup_db('shop', 2000);
ok($node->poll_query_until('shop',
		q{SELECT count(*) = 1 FROM personalize.worker_status() WHERE database = 'shop' AND state = 'active' AND pid IS NOT NULL}),
	'CREATE EXTENSION is picked up: a scheduler runs for the database');
my $kept = $node->safe_psql('shop', $kept_q);
$node->safe_psql('shop', q{SELECT personalize.set_retention('cases', 'closed_at', '90 days', $$status = 'resolved'$$)});
ok($node->poll_query_until('shop', "SELECT ($expired_q) = 0"), 'expired rows are purged within a naptime');
is($node->safe_psql('shop', $kept_q), $kept, 'no row outside the rule was deleted');
is($node->safe_psql('shop', q{SELECT outcome || ':' || rows_deleted || ':' || started_by FROM personalize.purge_log}),
	'ok:500:worker', 'the run is logged, with counts');
is($node->safe_psql('shop', q{SELECT batches > 1 AND finished_at - started_at >= (batches - 1) * interval '100 ms'
                                 FROM personalize.purge_log}),
	't', 'the worker pauses worker_purge_batch_delay (100ms) between two batches');

# SIGHUP: a long naptime takes effect, then a short one again
$node->safe_psql('postgres', q{ALTER SYSTEM SET personalize.naptime = '1h'});
$node->reload;
sleep 2;    # the reload wakes the scheduler, which makes a pass and sleeps an hour
$node->safe_psql('shop', q{INSERT INTO cases VALUES (100001, 1, 'resolved', now() - interval '100 days')});
sleep 3;
is($node->safe_psql('shop', $expired_q), '1', 'with naptime = 1h, a new expired row waits');
$node->safe_psql('postgres', q{ALTER SYSTEM SET personalize.naptime = '1s'});
$node->reload;
ok($node->poll_query_until('shop', "SELECT ($expired_q) = 0"), 'SIGHUP back to 1s: purged');

# a slow purge to interrupt: the condition sleeps for every row it reads
$node->safe_psql('shop', qq{
	SELECT personalize.set_retention('cases', 'closed_at', '90 days',
	       \$\$status = 'resolved' AND pg_sleep(0.002) IS NOT NULL\$\$);
	INSERT INTO cases SELECT i, i % 97,
	       CASE WHEN i % 2 = 0 THEN 'resolved' ELSE 'open' END,
	       now() - CASE WHEN i % 4 < 2 THEN interval '100 days' ELSE interval '10 days' END
	  FROM generate_series(200001, 208000) i;
});
$kept = $node->safe_psql('shop', $kept_q);

# kill -9 of the scheduler in the middle of a purge
ok($node->poll_query_until('shop',
		q{SELECT count(*) > 0 FROM personalize.purge_log WHERE outcome = 'running'}),
	'a long purge is running');
my $pid = $node->safe_psql('shop',
	q{SELECT pid FROM personalize.worker_status() WHERE database = 'shop'});
kill 'KILL', $pid;
ok($node->poll_query_until('shop',
		q{SELECT count(*) = 1 FROM personalize.worker_status() WHERE database = 'shop' AND pid IS NOT NULL}),
	'after kill -9 the scheduler comes back');
ok($node->poll_query_until('shop',
		q{SELECT count(*) > 0 FROM personalize.purge_log WHERE outcome = 'interrupted'}),
	'the killed run is marked interrupted');

# an immediate shutdown in the middle of the next run
ok($node->poll_query_until('shop',
		q{SELECT count(*) > 0 FROM personalize.purge_log WHERE outcome = 'running'}),
	'the purge goes on');
$node->stop('immediate');
$node->start;
ok($node->poll_query_until('shop', "SELECT ($expired_q) = 0", 't'),
	'after restart every expired row is gone');
is($node->safe_psql('shop', $kept_q), $kept, 'and no row outside the rule was deleted');
cmp_ok($node->safe_psql('shop',
		q{SELECT count(*) FROM personalize.purge_log WHERE outcome = 'interrupted'}), '>=', 2,
	'the run cut short by the shutdown is marked interrupted too');
is($node->safe_psql('shop',
		q{SELECT count(*) FROM personalize.purge_log WHERE outcome = 'running'}), '0',
	'no run is left "running"');

# two databases, purged independently
$node->safe_psql('shop', q{SELECT personalize.set_retention('cases', 'closed_at', '90 days', $$status = 'resolved'$$)});
setup_db('outlet', 1000);
$node->safe_psql('outlet', q{SELECT personalize.set_retention('cases', 'closed_at', '30 days')});
ok($node->poll_query_until('outlet',
		q{SELECT count(*) = 0 FROM cases WHERE closed_at < now() - interval '30 days'}),
	'a second database is purged by its own rule');
is($node->safe_psql('outlet', 'SELECT count(*) FROM cases'), '500', 'its recent rows stay');
is($node->safe_psql('shop', q{SELECT count(*) FROM personalize.worker_status() WHERE pid IS NOT NULL}),
	'2', 'one scheduler per database');

# DROP EXTENSION while the worker is busy: its scheduler exits cleanly
$node->safe_psql('outlet', qq{
	SELECT personalize.set_retention('cases', 'closed_at', '30 days',
	       \$\$pg_sleep(0.002) IS NOT NULL\$\$);
	INSERT INTO cases SELECT i, 1, 'resolved', now() - interval '100 days'
	  FROM generate_series(300001, 306000) i;
});
ok($node->poll_query_until('outlet',
		q{SELECT count(*) > 0 FROM personalize.purge_log WHERE outcome = 'running'}),
	'a purge is running in the second database');
my $log_offset = -s $node->logfile;
$node->safe_psql('outlet', 'SET personalize.drop_ledgers = on; DROP EXTENSION personalize CASCADE');
ok($node->wait_for_log(qr/personalize scheduler for database "outlet" exiting: the extension is not installed/,
		$log_offset), 'DROP EXTENSION: the scheduler exits cleanly');
ok($node->poll_query_until('shop',
		q{SELECT state = 'no extension' AND pid IS NULL FROM personalize.worker_status() WHERE database = 'outlet'}),
	'and is not restarted');
# CREATE EXTENSION again brings it back
$node->safe_psql('outlet', 'CREATE EXTENSION personalize');
ok($node->poll_query_until('shop',
		q{SELECT state = 'active' AND pid IS NOT NULL FROM personalize.worker_status() WHERE database = 'outlet'}),
	'CREATE EXTENSION again: a scheduler again');

# DROP DATABASE is not blocked by the scheduler connected to it
$node->safe_psql('postgres', 'DROP DATABASE outlet');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'outlet'}), '0',
	'DROP DATABASE stops the scheduler first');

# a standby does nothing
$node->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'backup', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
sleep 3;
is($standby->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'personalize%'}), '0',
	'no launcher and no scheduler on a standby');
is($standby->safe_psql('shop', 'SELECT count(*) FROM personalize.worker_status() WHERE pid IS NOT NULL'),
	'0', 'worker_status on the standby shows no scheduler');
$standby->stop;

# out of worker slots: a WARNING with a hint, not a crash
$node->stop;
my $small = PostgreSQL::Test::Cluster->new('small');
$small->init;
$small->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'personalize'
personalize.enabled = on
personalize.naptime = 1
max_worker_processes = 2
});
$small->start;
$small->safe_psql('postgres', 'CREATE DATABASE third');
$small->safe_psql('third', 'CREATE EXTENSION personalize');
ok($small->wait_for_log(qr/could not start the personalize scheduler for database \d+: no background worker slot is free/),
	'out of worker slots: a warning');
ok($small->wait_for_log(qr/HINT:  Increase max_worker_processes/), 'with a hint');
is($small->safe_psql('third', 'SELECT 1'), '1', 'the server is fine');
$small->stop;

done_testing();
