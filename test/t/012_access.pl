# Perl TAP: access grants across a dump and restore, and the background
# worker's expire_grants duty.  A protected table, an approver, a grant in
# use and the access ledger survive pg_dump and pg_restore: the restored
# table is protected by the same policies and the grantee reads through the
# same grant.  The worker records a grant's expiry in the ledger within a
# naptime, with the statements that used it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'personalize'
personalize.enabled = on
personalize.naptime = 1
personalize.review_ddl = off
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE ROLE agent;
	CREATE ROLE lead;
	CREATE ROLE clerk;
	CREATE DATABASE shop;
});
$node->safe_psql('shop', q{
	SET client_min_messages = warning;
	CREATE EXTENSION personalize;
	SELECT personalize.define_purpose('support', 'answering cases', 'help with orders',
		lawful_basis => 'contract');
	CREATE TABLE cases (case_id int PRIMARY KEY, customer_id bigint NOT NULL, summary text);
	INSERT INTO cases SELECT g, g % 10, 'case ' || g FROM generate_series(1, 40) g;
	GRANT SELECT ON cases TO agent, lead;
	SELECT personalize.register_table('cases', 'customer_id');
	SELECT personalize.protect('cases');
	SELECT personalize.add_access_approver('lead', 'cases');
	SELECT personalize.withdraw_consent('3', 'support', 'letter');
	SET ROLE lead;
	SELECT personalize.grant_access('agent', 'cases', 'support', '1 hour', 'case 7');
});

my $agent_count = q{SET ROLE agent; SELECT count(*) FROM cases};
is($node->safe_psql('shop', $agent_count), '36', 'the agent reads all but the objector\'s rows');

# dump and restore
my $dump = $node->basedir . '/shop.pgc';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('shop') ], 'pg_dump succeeds');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
my ($stdout, $stderr);
my $ok = IPC::Run::run([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'pg_restore succeeds');
is($stderr, '', 'pg_restore reports nothing');
is($node->safe_psql('restored', q{SELECT count(*) FROM pg_policies WHERE tablename = 'cases'}),
	'4', 'the restored table has the four policies');
is($node->safe_psql('restored', q{SELECT relid::text FROM personalize.protected_table}),
	'cases', 'and is registered as protected');
is($node->safe_psql('restored', $agent_count), '36', 'the agent reads through the restored grant');
is($node->safe_psql('restored', q{SET ROLE lead; SELECT count(*) FROM cases}), '0',
	'the lead, an approver without a grant, reads nothing');
is($node->safe_psql('restored', q{SELECT string_agg(action, ',' ORDER BY event_id) FROM personalize.access_history}),
	'protect,add_approver,grant', 'the access ledger is restored');
is($node->safe_psql('restored', q{SET ROLE lead;
	SELECT personalize.grant_access('agent', 'cases', 'support', '5 minutes', 'case 8')}), '2',
	'a new grant takes the next id');

# the worker records an expiry within a naptime, and how often grants were used
# (and a grant the clerk never uses)
$node->safe_psql('shop', q{SET ROLE lead;
	SELECT personalize.grant_access('agent', 'cases', 'support', '2 seconds', 'quick look');
	SELECT personalize.grant_access('clerk', 'cases', 'support', '2 seconds', 'never used')});
$node->safe_psql('shop', $agent_count);
ok($node->poll_query_until('shop', q{SELECT count(*) = 2 FROM personalize.access_history
	WHERE action = 'expire' AND reason IS NULL}), 'the worker records the expiries in the ledger');
# a statement counts one grant that let it read rows, the one that ends
# first: the first read had only the hour-long grant, the second both
ok($node->poll_query_until('shop', q{SELECT string_agg(reason || '=' || uses, ',' ORDER BY grant_id)
	FROM personalize.access_grant}, 'case 7=1,quick look=1,never used=0'),
	'and writes how often each grant was used');
is($node->safe_psql('shop', q{SELECT string_agg(finding, '; ') FROM personalize.review()
	WHERE finding ~ 'ended unused'}),
	'access grant 3 to clerk on public.cases for purpose "support" ended unused',
	'review() reports the grant nobody used');
is($node->safe_psql('shop', $agent_count), '36', 'the hour-long grant still serves');

done_testing();
