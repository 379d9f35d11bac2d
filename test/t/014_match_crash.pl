# Perl TAP: the shared catalog index survives the failures of the backends
# that build and read it (src/match/shared.c).
#
# - A backend killed (SIGKILL) while it builds the index, with another
#   backend waiting for it, leaves no stuck lock and no corrupt index: the
#   postmaster restarts, and the next match() builds the index again.
# - A backend killed while it maps the index: the same.
# - A builder cancelled in the middle of its build releases the build lock:
#   the backend that waited builds the index itself.
# - A server crash (immediate shutdown) in the middle of a build: after the
#   restart the next match() builds the index.
#
# A build is held in its middle by a session that locks offer_tags: the
# builder waits for that lock while it holds the build lock.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'personalize'
restart_after_crash = on
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', q{
	SET client_min_messages = warning;
	CREATE EXTENSION personalize;
	SELECT personalize.define_tag('running');
	SELECT personalize.define_tag('yoga');
	INSERT INTO personalize.offers (offer_id, title) VALUES ('shoes', 'Running shoes'), ('mat', 'Yoga mat');
	INSERT INTO personalize.offer_tags (offer_id, tag, weight) VALUES ('shoes', 'running', 2), ('mat', 'yoga', 1);
	SELECT personalize.grant_consent('alice', 'personalization', 'signup');
	SELECT personalize.state_intent('alice', 'running', 2);
	SELECT personalize.state_intent('alice', 'yoga', 1);
});

my $match_sql = q{SELECT string_agg(offer_id || '=' || score, ',') FROM personalize.match('alice')};
my $answer = 'shoes=4,mat=1';
my $info_sql = q{SELECT format('%s,%s', shared, builds) FROM personalize.match_cache_info()};

# a psql running sql in the background; returns the harness
sub start_psql
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('shop'), '-c', $sql ],
		'>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err };
}

# the pid of the backend running a match() that waits for wait_event_type
sub waiting_match
{
	my ($type) = @_;
	my $q = qq{SELECT pid FROM pg_stat_activity WHERE datname = 'shop'
		AND query LIKE '%personalize.match(%' AND query NOT LIKE '%pg_stat_activity%'
		AND wait_event_type = '$type'};
	$node->poll_query_until('shop', "SELECT count(*) > 0 FROM ($q) w") or return undef;
	return $node->safe_psql('shop', "$q LIMIT 1");
}

# hold a build in its middle: a session locks offer_tags; the next match()
# takes the build lock and waits for offer_tags
sub hold_build
{
	my $locker = $node->background_psql('shop');
	$locker->query_safe('BEGIN; LOCK personalize.offer_tags IN ACCESS EXCLUSIVE MODE');
	my $builder = start_psql($match_sql);
	my $pid = waiting_match('Lock');
	return ($locker, $builder, $pid);
}

sub no_stuck_lock
{
	return $node->safe_psql('shop', q{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'}) eq '0';
}

# --- a builder killed in the middle of its build, with a waiter ---
my ($locker, $builder, $pid) = hold_build();
ok($pid, 'a builder waits in the middle of its build');
is($node->safe_psql('shop', qq{SELECT count(*) FROM pg_locks WHERE pid = $pid AND locktype = 'advisory' AND granted}),
	'1', 'holding the build lock');
my $waiter = start_psql($match_sql);
my $wpid = waiting_match('Lock');
ok($node->poll_query_until('shop', qq{SELECT count(*) = 1 FROM pg_locks
	WHERE locktype = 'advisory' AND NOT granted}), 'another match() waits for the build lock');
kill 'KILL', $pid;
$builder->{h}->finish;
$waiter->{h}->finish;
eval { $locker->quit };
ok($node->poll_query_until('shop', 'SELECT 1', '1'), 'the server is back after kill -9 of the builder');
ok(no_stuck_lock(), 'no build lock is left');
is($node->safe_psql('shop', "$match_sql; $info_sql"), "$answer\nt,1", 'the next match() builds the shared index');
is($node->safe_psql('shop', "$match_sql; $info_sql"), "$answer\nt,0", 'and the next session maps it');

# --- a reader killed while it maps the index ---
my $reader = $node->background_psql('shop');
is($reader->query_safe($match_sql), $answer, 'a reader maps the index');
my $rpid = $reader->query_safe('SELECT pg_backend_pid()');
kill 'KILL', $rpid;
eval { $reader->quit };
ok($node->poll_query_until('shop', 'SELECT 1', '1'), 'the server is back after kill -9 of a reader');
is($node->safe_psql('shop', "$match_sql; $info_sql"), "$answer\nt,1", 'the next match() builds the index again');

# --- a builder cancelled in the middle of its build ---
$node->safe_psql('shop', q{UPDATE personalize.tag SET description = description WHERE false});  # rebuild
($locker, $builder, $pid) = hold_build();
ok($pid, 'a builder waits in the middle of a rebuild');
$waiter = start_psql("$match_sql; $info_sql");
ok($node->poll_query_until('shop', qq{SELECT count(*) = 1 FROM pg_locks
	WHERE locktype = 'advisory' AND NOT granted}), 'another match() waits for the build lock');
$node->safe_psql('shop', "SELECT pg_cancel_backend($pid)");
$builder->{h}->finish;
like(${ $builder->{err} }, qr/canceling statement due to user request/, 'the builder is cancelled');
$locker->query_safe('COMMIT');
$locker->quit;
$waiter->{h}->finish;
chomp(my $waited = ${ $waiter->{out} });
is($waited, "$answer\nt,1", 'the waiter builds the index itself');
ok(no_stuck_lock(), 'no build lock is left');

# --- a server crash in the middle of a build ---
$node->safe_psql('shop', q{UPDATE personalize.tag SET description = description WHERE false});
($locker, $builder, $pid) = hold_build();
ok($pid, 'a builder waits in the middle of a rebuild');
$node->stop('immediate');
$builder->{h}->finish;
eval { $locker->quit };
$node->start;
is($node->safe_psql('shop', "$match_sql; $info_sql"), "$answer\nt,1",
	'after an immediate shutdown the next match() builds the index');
is($node->safe_psql('shop', "$match_sql; $info_sql"), "$answer\nt,0", 'which the next session maps');
ok(no_stuck_lock(), 'no build lock is left');

done_testing();
