# Perl TAP: pg_restore -j of a pg_dump -Fc gives back the whole database.
# The extension's configuration tables reference each other, and a
# parallel restore loads their data in any order, each table in a
# transaction of its own: every consent, history entry, grant and approver
# must arrive, several runs in a row, and the ledgers verify.  A restore
# that loses the consent history (a table left out) leaves consents that
# the history does not record: verify_ledgers() says so rather than
# calling an empty history intact.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'");
$node->append_conf('postgresql.conf', "personalize.enabled = off");
$node->start;

$node->safe_psql('postgres', q{
	CREATE DATABASE shop;
	CREATE ROLE agent;
	CREATE ROLE lead;
});
$node->safe_psql('shop', q{
	SET client_min_messages = warning;
	CREATE EXTENSION personalize;
	SET search_path = public, personalize;
	CREATE TABLE cases (case_id int PRIMARY KEY, customer_id bigint NOT NULL, note text,
	                    opened_at timestamptz NOT NULL DEFAULT now());
	INSERT INTO cases SELECT g, g, 'case ' || g FROM generate_series(1, 200) g;
	GRANT SELECT ON cases TO agent, lead;
	SELECT register_table('cases', 'customer_id');
	SELECT protect('cases');
	SELECT define_purpose('support', 'answering a customer''s cases', 'help with what you bought',
	                      lawful_basis => 'contract');
	SELECT define_purpose('newsletter', 'a monthly mail', 'early access to sales');
	SELECT define_purpose('newsletter.weekly', 'a weekly digest', 'the week''s offers',
	                      parent => 'newsletter');
	SELECT grant_consent(g::text, 'newsletter', 'form') FROM generate_series(1, 150) g;
	SELECT withdraw_consent(g::text, 'newsletter', 'footer') FROM generate_series(1, 150, 7) g;
	SELECT grant_consent(g::text, 'newsletter.weekly', 'form') FROM generate_series(1, 50) g;
	SELECT withdraw_consent(g::text, 'support', 'letter') FROM generate_series(190, 200) g;
	SELECT define_tag('running', description => 'running and jogging');
	INSERT INTO offers (offer_id, title) VALUES ('shoes', 'Running shoes');
	INSERT INTO offer_tags (offer_id, tag, weight) VALUES ('shoes', 'running', 2);
	SELECT grant_consent('5', 'personalization', 'preference centre');
	SELECT state_intent('5', 'running', 2);
	SELECT add_access_approver('lead', 'cases');
	SET ROLE lead;
	SELECT grant_access('agent', 'cases', 'support', '1 hour', 'case 7');
	RESET ROLE;
	SELECT set_retention('cases', 'opened_at', '300 days');
});

my $state_sql = q{
	SELECT (SELECT count(*) FROM personalize.consent) || '/' ||
	       (SELECT count(*) FROM personalize.consent_event) || '/' ||
	       (SELECT count(*) FROM personalize.purpose_category) || '/' ||
	       (SELECT count(*) FROM personalize.access_grant) || '/' ||
	       (SELECT count(*) FROM personalize.access_approver) || '/' ||
	       (SELECT count(*) FROM personalize.offer_tags) || '/' ||
	       (SELECT count(*) FROM personalize.intent) || '/' ||
	       (SELECT count(*) FROM personalize.retention_rule) || '/' ||
	       (SELECT count(*) FROM public.cases WHERE personalize.has_consent(customer_id, 'newsletter.weekly'))};
my $verify_sql = q{
	SELECT string_agg(ledger || ':' || intact, ',' ORDER BY ledger) FROM personalize.verify_ledgers()};
my $before = $node->safe_psql('shop', $state_sql);
is($node->safe_psql('shop', $verify_sql), 'access:true,consent:true,custody:true,purge:true',
	'the ledgers verify before the dump');

my $dump = $node->basedir . '/shop.pgc';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('shop') ], 'pg_dump -Fc succeeds');

for my $run (1 .. 3)
{
	$node->safe_psql('postgres', "CREATE DATABASE restored$run");
	my ($stdout, $stderr);
	my $ok = IPC::Run::run([ 'pg_restore', '-j', '4', '-d', $node->connstr("restored$run"), $dump ],
		'>', \$stdout, '2>', \$stderr);
	ok($ok, "run $run: pg_restore -j 4 succeeds");
	is($stderr, '', "run $run: pg_restore reports nothing");
	is($node->safe_psql("restored$run", $state_sql), $before,
		"run $run: every consent, history entry, grant, approver and catalog row came back");
	is($node->safe_psql("restored$run", $verify_sql), 'access:true,consent:true,custody:true,purge:true',
		"run $run: the restored ledgers verify");
	is($node->safe_psql("restored$run", q{SHOW session_replication_role}), 'origin',
		"run $run: a new session is no replica");
}

# the restored database enforces as the original did
is($node->safe_psql('restored1', q{
	SET ROLE agent; SELECT count(*) FROM cases}), '189',
	'the grant lets the agent read, less the customers who objected');
is($node->safe_psql('restored1', q{
	SET ROLE lead; SELECT count(*) FROM cases}), '0', 'a role without a grant reads nothing');

# a restore that leaves out the consent history: the ledger is no longer the record
my $list = $node->basedir . '/shop.list';
$node->command_ok([ 'pg_restore', '-l', '-f', $list, $dump ], 'pg_restore -l succeeds');
open(my $in, '<', $list) or die "cannot read $list: $!";
my @toc = grep { !/TABLE DATA personalize consent_event / } <$in>;
close $in;
open(my $out, '>', $list) or die "cannot write $list: $!";
print $out @toc;
close $out;
$node->safe_psql('postgres', 'CREATE DATABASE partial');
$node->command_ok([ 'pg_restore', '-j', '4', '-L', $list, '-d', $node->connstr('partial'), $dump ],
	'a restore without the consent history runs');
my $consents = $node->safe_psql('partial', q{SELECT count(*) FROM personalize.consent});
ok($consents > 200, "the consents came back ($consents)");
is($node->safe_psql('partial', q{
	SELECT intact || ': ' || problem FROM personalize.verify_ledgers() WHERE ledger = 'consent'}),
	"false: $consents current consents have no entry in the consent history: the history is incomplete",
	'verify_ledgers() reports the consents the history does not record');

# pg_restore --clean over a database that has the extension drops it
# first: refused while its ledgers hold entries, done with the setting
my ($clean_out, $clean_err);
IPC::Run::run([ 'pg_restore', '--clean', '--if-exists', '-d', $node->connstr('restored2'), $dump ],
	'>', \$clean_out, '2>', \$clean_err);
like($clean_err, qr/cannot drop extension personalize while its ledgers hold entries/,
	'pg_restore --clean does not drop the ledgers behind the DBA\'s back');
{
	local $ENV{PGOPTIONS} = '-c personalize.drop_ledgers=on';
	my $ok = IPC::Run::run([ 'pg_restore', '--clean', '--if-exists', '-j', '4', '-d', $node->connstr('restored3'), $dump ],
		'>', \$clean_out, '2>', \$clean_err);
	ok($ok, 'with personalize.drop_ledgers = on, pg_restore --clean -j 4 succeeds');
	is($clean_err, '', 'and reports nothing');
}
is($node->safe_psql('restored3', $state_sql), $before, 'the cleaned and restored database is whole');
is($node->safe_psql('restored3', $verify_sql), 'access:true,consent:true,custody:true,purge:true',
	'its ledgers verify');

$node->stop;
done_testing();
