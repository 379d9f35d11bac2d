# Perl TAP: the ledgers survive pg_dump and pg_restore as the chains they
# were.  A digest an auditor took before the dump still verifies the
# restored database (the restore keeps every entry's position and hashes,
# even where forget() rewrote rows and left them out of chain order on
# disk), and the chains grow on from where they ended.  A restore of a
# tampered dump is found as any other tampering.
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

$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', q{
	SET client_min_messages = warning;
	CREATE EXTENSION personalize;
	SELECT personalize.define_purpose('partner_ads', 'ads by a partner', 'a voucher',
		ARRAY['user.contact.email', 'user.unique_id']);
	CREATE TABLE customers (customer_id bigint PRIMARY KEY, email text,
	                        seen_at timestamptz NOT NULL DEFAULT now());
	INSERT INTO customers SELECT g, 'c' || g || '@example.com', now() - (g % 3) * interval '200 days'
	  FROM generate_series(1, 30) g;
	SELECT personalize.register_table('customers', 'customer_id');
	SECURITY LABEL FOR personalize ON COLUMN customers.email IS 'user.contact.email';
	SECURITY LABEL FOR personalize ON COLUMN customers.customer_id IS 'user.unique_id';
	SELECT personalize.grant_consent(g::text, 'partner_ads', 'checkout') FROM generate_series(1, 20) g;
	SELECT personalize.withdraw_consent(g::text, 'partner_ads', 'footer') FROM generate_series(1, 20, 4) g;
	SELECT personalize.register_partner('Acme', 'DPA-1', ARRAY['partner_ads'],
		ARRAY['user.contact.email', 'user.unique_id'], now() + interval '1 year');
	SELECT count(*) FROM personalize.share('Acme', 'customers');
	SELECT personalize.set_retention('customers', 'seen_at', '300 days');
	SELECT personalize.purge('customers');
	SELECT personalize.protect('customers');
	-- forget() rewrites early entries: on disk they now come after later ones
	SELECT personalize.forget('2');
	SELECT personalize.forget('6');
});

my $digest = $node->safe_psql('shop', 'SELECT personalize.ledger_digest()');
my $verify_sql = q{
	SELECT string_agg(ledger || ':' || entries || ':' || intact, ',' ORDER BY ledger)
	  FROM personalize.verify_ledgers(%s)};
my $before = $node->safe_psql('shop', sprintf($verify_sql, "'$digest'"));
like($before, qr/^access:1:true,consent:\d+:true,custody:1:true,purge:1:true$/,
	"every ledger verifies before the dump: $before");
ok($node->safe_psql('shop', q{
	SELECT count(*) > 0 FROM (
	  SELECT chain_seq, lag(chain_seq) OVER (ORDER BY ctid) AS before_on_disk
	    FROM personalize.consent_event) s
	 WHERE chain_seq < before_on_disk}) eq 't',
	'consent history is out of chain order on disk');

my $dump = $node->basedir . '/shop.pgc';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('shop') ], 'pg_dump succeeds');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
my ($stdout, $stderr);
my $ok = IPC::Run::run([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'pg_restore succeeds');
is($stderr, '', 'pg_restore reports nothing');

is($node->safe_psql('restored', sprintf($verify_sql, "'$digest'")), $before,
	'the restored ledgers verify against the digest taken before the dump');
is($node->safe_psql('restored', q{SELECT count(*) FROM personalize.purge_history}), '1',
	'the purge ledger holds its one run, not a second copy from the restored purge log');
is($node->safe_psql('restored', q{SELECT partner FROM personalize.recipients('3')}), 'Acme',
	'recipients() still finds the partner: the pseudonym key came along');

# the chains grow on from where they ended
$node->safe_psql('restored', q{
	SELECT personalize.grant_consent('25', 'partner_ads', 'after restore');
	SELECT count(*) FROM personalize.share('Acme', 'customers');
});
is($node->safe_psql('restored', q{
	SELECT string_agg(ledger || ':' || intact, ',' ORDER BY ledger) FROM personalize.verify_ledgers()}),
	'access:true,consent:true,custody:true,purge:true', 'new entries chain on after the restore');
is($node->safe_psql('restored', q{
	SELECT max(chain_seq) = count(*) FROM personalize.consent_event}), 't',
	'positions run on without a gap');

# a dump edited by hand restores, and is found out
my $plain = $node->basedir . '/shop.sql';
$node->command_ok([ 'pg_dump', '-f', $plain, '-d', $node->connstr('shop') ], 'plain pg_dump succeeds');
open(my $in, '<', $plain) or die "cannot read $plain: $!";
my $sql = do { local $/; <$in> };
close $in;
my $edited = ($sql =~ s/(COPY personalize\.consent_event .*?)\tfooter\t/$1\tforged\t/s);
ok($edited, 'the dump is edited: one withdrawal now has another source');
open(my $out, '>', $plain) or die "cannot write $plain: $!";
print $out $sql;
close $out;
$node->safe_psql('postgres', 'CREATE DATABASE tampered');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $plain, '-d', $node->connstr('tampered') ],
	'the edited dump restores');
like($node->safe_psql('tampered', q{
	SELECT problem FROM personalize.verify_ledgers() WHERE ledger = 'consent'}),
	qr/^entry \d+ was altered: its content does not match its hash$/,
	'verify_ledgers() finds the edited entry');

$node->stop;
done_testing();
