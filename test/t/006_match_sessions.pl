# Perl TAP: intent matching across sessions and across a dump.
#
# - Each session keeps its own cache of the offer catalog.  A catalog change
#   committed in another session makes an idle session free its stale cache
#   at its next transaction end, before it calls match() again; its next
#   match() sees the change.
# - With the library preloaded, the answer counters behind model_card() are
#   server-wide: answers given in other sessions are counted.
# - pg_dump and pg_restore keep the catalog (offers, offer_tags); the
#   restored database ranks exactly as the source does.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', q{
	SET client_min_messages = warning;
	CREATE EXTENSION personalize;
	SELECT personalize.define_tag('running', description => 'running and jogging');
	SELECT personalize.define_tag('yoga');
	SELECT personalize.define_tag('vegan');
	INSERT INTO personalize.offers (offer_id, title, priority, ends_at) VALUES
		('shoes', 'Running shoes', 5, NULL), ('mat', 'Yoga mat', 3, NULL),
		('burger', 'Vegan burger', 9, NULL), ('old', 'Old sale', 7, '2020-01-01');
	INSERT INTO personalize.offer_tags (offer_id, tag, weight) VALUES
		('shoes', 'running', 2), ('mat', 'yoga', 1), ('burger', 'vegan', 1), ('old', 'running', 9);
	SELECT personalize.grant_consent('alice', 'personalization', 'signup');
	SELECT personalize.state_intent('alice', 'running', 2);
	SELECT personalize.state_intent('alice', 'yoga', 1);
	SELECT personalize.state_intent('alice', 'vegan', -1);
	SELECT personalize.record_purchase('alice', 'mat', 1, '2026-01-02 10:00+00');
});

my $alice_sql = q{SELECT string_agg(offer_id || '=' || round(score::numeric, 4), ',') FROM personalize.match('alice', exclude_purchased => false)};
my $contexts_sql = q{SELECT count(*) FROM pg_backend_memory_contexts WHERE name = 'personalize match catalog'};

# --- an idle session frees its stale cache ---
my $app = $node->background_psql('shop');
is($app->query_safe($alice_sql), 'shoes=4.0000,mat=1.0000', 'app: alice gets shoes, then mat');
is($app->query_safe($contexts_sql), '1', 'app: the session holds a cached catalog');

$node->safe_psql('shop', q{
	INSERT INTO personalize.offers (offer_id, title) VALUES ('marathon', 'Marathon entry');
	INSERT INTO personalize.offer_tags (offer_id, tag, weight) VALUES ('marathon', 'running', 10);
});

# any statement of the app session accepts the invalidation; its transaction
# end frees the stale catalog
$app->query_safe('SELECT 1');
is($app->query_safe($contexts_sql), '0', 'app: the stale catalog is freed without a match() call');
is($app->query_safe(q{SELECT cache_version IS NULL FROM personalize.match_cache_info()}), 't',
	'app: match_cache_info shows no cache');
is($app->query_safe($alice_sql), 'marathon=20.0000,shoes=4.0000,mat=1.0000',
	'app: the next match() sees the new offer');
is($app->query_safe($contexts_sql), '1', 'app: and caches the new catalog');
is($app->query_safe(q{SELECT fresh AND cache_version = catalog_version FROM personalize.match_cache_info()}),
	't', 'app: the cache is current');
$app->quit;

# --- server-wide answer counters ---
my $stats_sql = q{SELECT personalized || ',' || not_personalized_no_consent || ',' || not_personalized_no_match || ',' || scope
	FROM personalize._match_stats()};
my ($p0, $n0, $m0, $scope) = split /,/, $node->safe_psql('shop', $stats_sql), 4;
like($scope, qr/^server/, 'the counters are server-wide when the library is preloaded');
$node->safe_psql('shop', q{SELECT count(*) FROM personalize.match('alice')}) for 1 .. 3;
$node->safe_psql('shop', q{SELECT count(*) FROM personalize.match('bob')}) for 1 .. 2;
$node->safe_psql('shop', q{
	SELECT personalize.grant_consent('carol', 'personalization');
	SELECT count(*) FROM personalize.match('carol');
});
my ($p1, $n1, $m1) = split /,/, $node->safe_psql('shop', $stats_sql);
is($p1 - $p0, 3, 'three personalized answers, from three sessions');
is($n1 - $n0, 2, 'two answers without consent');
is($m1 - $m0, 1, 'one consenting subject with nothing to go on');
is($node->safe_psql('shop', q{SELECT (personalize.model_card() #>> '{metrics,live,answers,personalized}')::bigint}),
	$p1, 'the model card shows the server-wide count');

# --- pg_dump and pg_restore keep the catalog ---
my %tables = (
	offers     => q{SELECT offer_id, title, priority, starts_at, ends_at, enabled FROM personalize.offers ORDER BY offer_id},
	offer_tags => q{SELECT * FROM personalize.offer_tags ORDER BY offer_id, tag},
	signal     => q{SELECT subject, tag, kind, weight, at, offer_id FROM personalize.signal ORDER BY signal_id},
);
my %before = map { $_ => $node->safe_psql('shop', $tables{$_}) } keys %tables;
isnt($before{$_}, '', "source has rows in $_") for sort keys %tables;
my $answer = $node->safe_psql('shop', $alice_sql);

my $dump = $node->basedir . '/shop.pgc';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('shop') ], 'pg_dump succeeds');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
my ($stdout, $stderr);
my $ok = IPC::Run::run([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'pg_restore succeeds');
is($stderr, '', 'pg_restore reports nothing');
is($node->safe_psql('restored', $tables{$_}), $before{$_}, "restored $_ is identical") for sort keys %tables;
is($node->safe_psql('restored', $alice_sql), $answer, 'match() ranks identically after the restore');
is($node->safe_psql('restored', q{SELECT version > 1 FROM personalize.match_catalog_version}), 't',
	'the restored catalog data changed the catalog version');

done_testing();
