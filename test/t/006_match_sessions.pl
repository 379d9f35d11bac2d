# Perl TAP: intent matching across sessions and across a dump.
#
# - With the library preloaded, one index of the offer catalog serves every
#   session: the first match() builds it in shared memory, the others map
#   it; a catalog change committed in another session is served by the
#   overlay of changed offers (no rebuild, in this session or a new one).
#   An index that does not fit in personalize.match_shared_mem is private,
#   with a WARNING; so is every index without preloading, and one that does
#   not fit in personalize.match_cache_mem is not kept (a WARNING again).
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
my $info_sql = q{SELECT format('%s,%s,%s,%s,%s', shared, kept, builds, overlay_offers, fresh)
	FROM personalize.match_cache_info()};
my $private_sql = q{SELECT coalesce(sum(total_bytes), 0) FROM pg_backend_memory_contexts
	WHERE name LIKE 'personalize match catalog%'};

# --- one shared index for every session ---
my $app = $node->background_psql('shop');
is($app->query_safe($alice_sql), 'shoes=4.0000,mat=1.0000', 'app: alice gets shoes, then mat');
is($app->query_safe($info_sql), 't,t,1,0,t', 'app: built the shared index');
my $app2 = $node->background_psql('shop');
is($app2->query_safe($alice_sql), 'shoes=4.0000,mat=1.0000', 'app2: the same answer');
is($app2->query_safe($info_sql), 't,t,0,0,t', 'app2: mapped the shared index, built nothing');
my $shared_bytes = $app2->query_safe(q{SELECT shared_bytes FROM personalize.match_cache_info()});
cmp_ok($app2->query_safe($private_sql), '<', 16384,
	"app2: keeps under 16 kB of its own (the $shared_bytes bytes of the index are shared)");

$node->safe_psql('shop', q{
	INSERT INTO personalize.offers (offer_id, title) VALUES ('marathon', 'Marathon entry');
	INSERT INTO personalize.offer_tags (offer_id, tag, weight) VALUES ('marathon', 'running', 10);
});
is($app->query_safe($alice_sql), 'marathon=20.0000,shoes=4.0000,mat=1.0000',
	'app: the next match() sees the new offer');
is($app->query_safe($info_sql), 't,t,1,1,t', 'app: through the overlay of one changed offer, no rebuild');
is($node->safe_psql('shop', $alice_sql), 'marathon=20.0000,shoes=4.0000,mat=1.0000',
	'a new session sees it too');
is($node->safe_psql('shop', qq{SELECT count(*) FROM personalize.match('alice'); $info_sql}),
	"2\nt,t,0,1,t", 'a new session builds nothing');
is($app->query_safe(q{SELECT fresh AND cache_version = catalog_version FROM personalize.match_cache_info()}),
	't', 'app: the cache is current');

# the maintenance duty folds the changes into a new shared index and prunes
# the change log it covers; sessions then answer from the new index
is($node->safe_psql('shop', q{
	SET personalize.match_overlay_limit = 4;   -- a quarter of it: one changed offer is enough
	SELECT personalize._match_fold() > 0;
	SELECT (SELECT count(*) FROM personalize.match_catalog_change) || ',' ||
	       (SELECT horizon = version FROM personalize.match_catalog_version) || ',' ||
	       (shared_version = catalog_version) FROM personalize.match_cache_info();
}), "t\n0,true,true", 'fold: a new shared index at the current version, the log pruned to it');
is($node->safe_psql('shop', q{SELECT personalize._match_fold()}), '0', 'fold: then nothing to do');
is($app->query_safe($alice_sql), 'marathon=20.0000,shoes=4.0000,mat=1.0000',
	'app: the same answer from the folded index');
is($app->query_safe($info_sql), 't,t,1,0,t', 'app: mapped the new index, with no overlay');
# a session that maps a replaced index lets it go at its next transaction end
$node->safe_psql('shop', q{
	UPDATE personalize.tag SET description = description WHERE false;  -- rebuild
	SELECT count(*) FROM personalize.match('alice');
});
$app2->query_safe('SELECT 1');
is($app2->query_safe(q{SELECT format('%s,%s', kept, shared_version > cache_version)
	FROM personalize.match_cache_info()}), 'f,', 'app2: dropped its mapping of the replaced index');
is($app2->query_safe($alice_sql), 'marathon=20.0000,shoes=4.0000,mat=1.0000', 'app2: and answers from the new one');
is($app2->query_safe($info_sql), 't,t,0,0,t', 'app2: which it mapped, building nothing');
$app2->quit;

# --- a shared index that does not fit is private, with a WARNING ---
$node->safe_psql('postgres', q{ALTER SYSTEM SET personalize.match_shared_mem = '1kB'; SELECT pg_reload_conf()});
$node->poll_query_until('shop', q{SELECT current_setting('personalize.match_shared_mem') = '1kB'});
my ($out, $err);
$node->psql('shop', q{
	-- a catalog larger than 1 kB, out of alice's reach
	INSERT INTO personalize.offers (offer_id, title, enabled)
	SELECT 'filler-' || i, 'Filler', false FROM generate_series(1, 100) i;
	UPDATE personalize.tag SET description = description WHERE false;  -- rebuild
	SELECT string_agg(offer_id, ',') FROM personalize.match('alice');
	SELECT format('%s,%s', shared, kept) FROM personalize.match_cache_info();
}, stdout => \$out, stderr => \$err);
is($out, "marathon,shoes\nf,t", 'a private index answers the same');
like($err, qr/WARNING:  the offer catalog index cannot be shared/, 'with a WARNING naming the cause');
like($err, qr/personalize\.match_shared_mem allows 1 kB/, 'and the setting');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET personalize.match_shared_mem; SELECT pg_reload_conf()});
$node->poll_query_until('shop', q{SELECT current_setting('personalize.match_shared_mem') = '1GB'});
$app->quit;

# --- without preloading: a private index per session ---
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$plain->start;
$plain->safe_psql('postgres', q{
	SET client_min_messages = warning;
	CREATE EXTENSION personalize;
	SELECT personalize.define_tag('running');
	INSERT INTO personalize.offers (offer_id, title) VALUES ('shoes', 'Running shoes');
	INSERT INTO personalize.offer_tags (offer_id, tag, weight) VALUES ('shoes', 'running', 2);
	SELECT personalize.grant_consent('alice', 'personalization', 'signup');
	SELECT personalize.state_intent('alice', 'running', 2);
});
is($plain->safe_psql('postgres', qq{SELECT count(*) FROM personalize.match('alice'); $info_sql}),
	"1\nf,t,1,0,t", 'without preloading: a private index, kept');
$plain->psql('postgres', q{
	SET personalize.match_cache_mem = 0;
	SELECT string_agg(offer_id, ',') FROM personalize.match('alice');
	SELECT string_agg(offer_id, ',') FROM personalize.match('alice');
	SELECT kept FROM personalize.match_cache_info();
}, stdout => \$out, stderr => \$err);
is($out, "shoes\nshoes\nf", 'an index larger than match_cache_mem answers, and is not kept');
is($plain->safe_psql('postgres', q{SELECT personalize._match_fold()}), '0',
	'without preloading, the maintenance duty keeps changes younger than an hour');
$plain->safe_psql('postgres', q{UPDATE personalize.match_catalog_change SET logged_at = logged_at - interval '2 hours'});
is($plain->safe_psql('postgres', q{
	SELECT personalize._match_fold() > 0;
	SELECT (SELECT count(*) FROM personalize.match_catalog_change) || ',' || (horizon = version)
	  FROM personalize.match_catalog_version;
	SELECT string_agg(offer_id, ',') FROM personalize.match('alice');
}), "t\n0,true\nshoes", 'and prunes older ones; a session whose index predates them rebuilds it');
is(scalar(() = $err =~ /WARNING:  the offer catalog does not fit in "personalize.match_cache_mem"/g), 1,
	'with one WARNING per session and version');
$plain->stop;

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
