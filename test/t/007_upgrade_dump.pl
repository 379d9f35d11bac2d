# Perl TAP: a database that began at the oldest shipped version, where the
# DBA granted privileges on extension functions, is updated with ALTER
# EXTENSION UPDATE, dumped with pg_dump and restored into a new database
# (which installs the newest version directly).  The restored database has
# the same data, answers the same, and keeps the DBA's grants, also on a
# function the update replaced (its privileges must not have become the
# extension's initial ones, which pg_dump leaves out).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'");
$node->start;

my $oldest = $node->safe_psql('postgres', q{
	SELECT version FROM pg_available_extension_versions WHERE name = 'personalize'
	 ORDER BY string_to_array(version, '.')::int[] LIMIT 1});
my $newest = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'personalize'});
isnt($oldest, $newest, "an update path to test: $oldest to $newest");

$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', qq{
	SET client_min_messages = warning;
	CREATE ROLE upgrade_dpo;
	CREATE ROLE upgrade_app;
	CREATE EXTENSION personalize VERSION '$oldest';
	SELECT personalize.define_purpose('marketing', 'emails about offers',
		'early access to sales', ARRAY['user.contact.email']);
	SELECT personalize.grant_consent('alice', 'marketing', 'signup');
	SELECT personalize.withdraw_consent('bob', 'marketing', 'unsubscribe link');
	CREATE TABLE customers (customer_id bigint PRIMARY KEY, email text);
	INSERT INTO customers VALUES (1, 'a\@example.com'), (2, 'b\@example.com');
	SELECT personalize.register_table('customers', 'customer_id');
	SECURITY LABEL FOR personalize ON COLUMN customers.email IS 'user.contact.email';
	-- the DBA's grants: on a function the update replaces, and on one it keeps
	GRANT EXECUTE ON FUNCTION personalize.define_purpose(text, text, text, text[], text) TO upgrade_dpo;
	GRANT EXECUTE ON FUNCTION personalize.grant_consent(text, text, text, timestamptz) TO upgrade_app;
	ALTER EXTENSION personalize UPDATE;
});
is($node->safe_psql('shop', q{SELECT extversion FROM pg_extension WHERE extname = 'personalize'}),
	$newest, "updated to $newest");

my $grants_sql = q{
	SELECT has_function_privilege('upgrade_dpo',
	         'personalize.define_purpose(text, text, text, text[], text, text)', 'EXECUTE'),
	       has_function_privilege('upgrade_app',
	         'personalize.grant_consent(text, text, text, timestamptz)', 'EXECUTE'),
	       has_function_privilege('upgrade_app',
	         'personalize.define_purpose(text, text, text, text[], text, text)', 'EXECUTE')};
is($node->safe_psql('shop', $grants_sql), 't|t|f', 'after the update: the DBA\'s grants, and no more');

my $data_sql = q{
	SELECT string_agg(subject || ':' || purpose || ':' || status || ':' || lawful_basis, ',' ORDER BY subject)
	  FROM personalize.consents};
my $data = $node->safe_psql('shop', $data_sql);
is($data, 'alice:marketing:granted:consent,bob:marketing:withdrawn:consent', 'consents kept, on the consent basis');

my $dump = $node->basedir . '/shop.pgc';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('shop') ], 'pg_dump succeeds');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
my ($stdout, $stderr);
my $ok = IPC::Run::run([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'pg_restore succeeds');
is($stderr, '', 'pg_restore reports nothing');

is($node->safe_psql('restored', q{SELECT extversion FROM pg_extension WHERE extname = 'personalize'}),
	$newest, "the restore installs $newest");
is($node->safe_psql('restored', $grants_sql), 't|t|f', 'after the restore: the same grants');
is($node->safe_psql('restored', $data_sql), $data, 'the same consents');
is($node->safe_psql('restored', q{
	SELECT string_agg(s.subject || ':' || personalize.may_process(s.subject, 'marketing')::text, ',' ORDER BY 1)
	  FROM (VALUES ('alice'), ('bob'), ('carol')) s(subject)}),
	'alice:true,bob:false,carol:false', 'may_process answers');
is($node->safe_psql('restored', q{
	SELECT label FROM pg_seclabel WHERE provider = 'personalize' AND objoid = 'customers'::regclass}),
	'user.contact.email', 'the label');

done_testing();
