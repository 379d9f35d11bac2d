# Perl TAP: what users configured and recorded survives pg_dump -Fc and
# pg_restore into a new database: user categories, purposes (a child of
# another), tags, consents and their append-only history (pseudonymized
# subjects included), intents, signals, registered tables and the pseudonym
# key.  has_consent() answers the same in both databases, the sequences go
# on after the restored rows, the built-in purpose exists once, and the
# history is still append-only.
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

# Everything a user can configure and record.  record_signal() keeps a signal
# only with consent to "personalization", so that is granted first.
$node->safe_psql('shop', q{
	SET client_min_messages = warning;
	CREATE EXTENSION personalize;
	SELECT personalize.define_category('user.preference.cuisine', 'personal',
		'cuisines a customer likes');
	SELECT personalize.define_purpose('marketing', 'emails about offers',
		'early access to sales', ARRAY['user.contact.email']);
	SELECT personalize.define_purpose('marketing.email', 'the weekly offers email',
		'offers picked for the cuisines you like',
		ARRAY['user.contact.email', 'user.preference.cuisine'], 'marketing');
	SELECT personalize.define_purpose('support', 'answering cases', 'help with orders',
		lawful_basis => 'contract');
	SELECT personalize.define_tag('vegan', 'user.preference.cuisine');
	SELECT personalize.define_tag('running');

	-- alice: everything; bob: withdrew marketing; carol: the child purpose
	-- only, until next century; dave: forgotten below; erin: granted the
	-- child but withdrew the parent; bigint and uuid keys
	SELECT personalize.grant_consent('alice', 'personalization', 'signup');
	SELECT personalize.grant_consent('alice', 'marketing', 'signup');
	SELECT personalize.grant_consent('bob', 'personalization', 'signup');
	SELECT personalize.grant_consent('bob', 'marketing', 'signup');
	SELECT personalize.withdraw_consent('bob', 'marketing', 'unsubscribe link');
	SELECT personalize.grant_consent('carol', 'marketing.email', 'settings',
		'2099-01-01 00:00+00');
	SELECT personalize.grant_consent('dave', 'personalization', 'signup');
	SELECT personalize.grant_consent('dave', 'marketing', 'signup');
	SELECT personalize.grant_consent('erin', 'marketing', 'signup');
	SELECT personalize.withdraw_consent('erin', 'marketing', 'settings');
	SELECT personalize.grant_consent('erin', 'marketing.email', 'settings');
	SELECT personalize.withdraw_consent('bob', 'support', 'letter');
	SELECT personalize.grant_consent('42', 'marketing', 'import');
	SELECT personalize.grant_consent('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
		'marketing.email', 'import');

	SELECT personalize.state_intent('alice', 'vegan', 2);
	SELECT personalize.state_intent('alice', 'running', -1);
	SELECT personalize.state_intent('dave', 'running', 1);
	SELECT personalize.state_intent('bob', 'vegan', 1);
	SELECT personalize.record_signal('alice', 'vegan', 'view', 1, '2026-01-02 10:00+00');
	SELECT personalize.record_signal('alice', 'vegan', 'purchase', 5, '2026-01-03 10:00+00');
	SELECT personalize.record_signal('bob', 'running', 'click', 1, '2026-01-04 10:00+00');
	SELECT personalize.record_signal('dave', 'running', 'view', 1, '2026-01-05 10:00+00');

	CREATE TABLE customers (customer_key text PRIMARY KEY, name text NOT NULL);
	INSERT INTO customers VALUES ('alice', 'Alice'), ('bob', 'Bob'), ('dave', 'Dave');
	SELECT personalize.register_table('customers', 'customer_key');

	SELECT personalize.forget('dave');

	-- a privilege of the DBA's own on an extension function
	CREATE ROLE dump_dpo;
	GRANT EXECUTE ON FUNCTION
		personalize.define_purpose(text, text, text, text[], text, text) TO dump_dpo;
});

# sanity of the source before comparing: the data is there to be dumped
is($node->safe_psql('shop', q{SELECT string_agg(subject || ':' || kind, ',' ORDER BY signal_id)
	FROM personalize.signal}),
	'alice:view,alice:purchase,bob:click', 'signals of consenting subjects, dave\'s erased');
my $dave_pseudonym = $node->safe_psql('shop', q{SELECT personalize.subject_pseudonym('dave')});
like($dave_pseudonym, qr/^pseudonym:[0-9a-f]{64}$/, 'a pseudonym key exists');
my $dave_events = $node->safe_psql('shop', qq{SELECT string_agg(coalesce(p.name, '-') || ':' || e.action, ',' ORDER BY e.event_id)
	FROM personalize.consent_event e LEFT JOIN personalize.purpose p USING (purpose_id)
	WHERE e.subject = '$dave_pseudonym'});
is($dave_events, 'personalization:grant,marketing:grant,-:forget',
	'dave\'s consent history is kept under his pseudonym');
is($node->safe_psql('shop', q{SELECT count(*) FROM personalize.consent_event WHERE subject = 'dave'}),
	'0', 'and no longer under his key');

# The rows to compare, per table: user rows of the tables that also hold
# built-in rows, every row of the others.  A built-in purpose's created_at is
# the time of CREATE EXTENSION, which a restore repeats, so it is left out.
my %tables = (
	data_category    => q{SELECT * FROM personalize.data_category WHERE NOT builtin ORDER BY name},
	purpose          => q{SELECT * FROM personalize.purpose WHERE NOT builtin ORDER BY purpose_id},
	purpose_builtin  => q{SELECT purpose_id, name, description, value_exchange, parent_id
	                        FROM personalize.purpose WHERE builtin ORDER BY purpose_id},
	purpose_category => q{SELECT * FROM personalize.purpose_category ORDER BY purpose_id, category},
	consent          => q{SELECT * FROM personalize.consent ORDER BY subject, purpose_id},
	consent_event    => q{SELECT * FROM personalize.consent_event ORDER BY event_id},
	consents         => q{SELECT * FROM personalize.consents ORDER BY subject, purpose},
	tag              => q{SELECT * FROM personalize.tag ORDER BY tag},
	intent           => q{SELECT * FROM personalize.intent ORDER BY subject, tag},
	signal           => q{SELECT * FROM personalize.signal ORDER BY signal_id},
	subject_table    => q{SELECT relid::text, subject_column, registered_at, registered_by
	                        FROM personalize.subject_table ORDER BY 1},
	pseudonym_key    => q{SELECT only_row, encode(key, 'hex') FROM personalize.pseudonym_key},
	customers        => q{SELECT * FROM customers ORDER BY customer_key},
);

# has_consent for every subject and purpose, through every entry point that
# fits the key
my $answers_sql = q{
	SELECT s.subject, p.name, personalize.has_consent(s.subject, p.name),
	       CASE WHEN s.subject ~ '^[0-9]+$' THEN personalize.has_consent(s.subject::bigint, p.name)
	            WHEN s.subject ~ '^[0-9a-f-]{36}$' THEN personalize.has_consent(s.subject::uuid, p.name)
	       END
	  FROM (SELECT DISTINCT subject FROM personalize.consent_event
	        UNION VALUES ('dave'), ('nobody'), ('43')) s,
	       personalize.purpose p
	 ORDER BY 1, 2
};

# and may_process, whose answer depends on the purpose's lawful basis
my $may_sql = q{
	SELECT s.subject, p.name, personalize.may_process(s.subject, p.name)
	  FROM (SELECT DISTINCT subject FROM personalize.consent_event
	        UNION VALUES ('nobody')) s,
	       personalize.purpose p
	 ORDER BY 1, 2
};
my $dpo_sql = q{SELECT has_function_privilege('dump_dpo',
	'personalize.define_purpose(text, text, text, text[], text, text)', 'EXECUTE')};

my %before = map { $_ => $node->safe_psql('shop', $tables{$_}) } keys %tables;
my $answers = $node->safe_psql('shop', $answers_sql);
my $may = $node->safe_psql('shop', $may_sql);
like($may, qr/^alice\|support\|t$/m, 'before the dump: alice may be served under the contract');
like($may, qr/^bob\|support\|f$/m, 'before the dump: bob objected');
like($may, qr/^nobody\|marketing\|f$/m, 'before the dump: nobody consented to marketing');
is($node->safe_psql('shop', $dpo_sql), 't', 'before the dump: dump_dpo may define purposes');

# every table has rows to lose
for my $t (sort keys %tables)
{
	isnt($before{$t}, '', "source has rows in $t");
}
is($before{data_category}, join('|', 'user.preference.cuisine', 'personal', 'f', '', 'cuisines a customer likes', 'f'),
	'the user category');

# spot checks of the answers before the restore, so that "identical" below
# is not "identically wrong"
my %want = (
	'alice|marketing' => 't', 'alice|marketing.email' => 't', 'alice|personalization' => 't',
	'bob|marketing' => 'f', 'bob|marketing.email' => 'f', 'bob|personalization' => 't',
	'carol|marketing' => 'f', 'carol|marketing.email' => 't',
	'dave|marketing' => 'f', 'dave|personalization' => 'f',
	'erin|marketing' => 'f', 'erin|marketing.email' => 'f',
	'42|marketing' => 't', '42|marketing.email' => 't', '43|marketing' => 'f',
	'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11|marketing.email' => 't',
	'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11|marketing' => 'f',
	'nobody|personalization' => 'f',
);
my %got;
for my $line (split /\n/, $answers)
{
	my ($subject, $purpose, $text, $typed) = split /\|/, $line;
	$got{"$subject|$purpose"} = $text;
	is($typed, $text, "bigint/uuid entry point agrees with text for $subject, $purpose")
	  if $typed ne '';
}
for my $k (sort keys %want)
{
	is($got{$k}, $want{$k}, "before the dump: has_consent $k");
}

# the last ids handed out (dave's erased signal had the highest signal id)
my ($max_event, $max_signal, $max_purpose) = split /\|/, $node->safe_psql('shop', q{
	SELECT (SELECT last_value FROM personalize.consent_event_event_id_seq),
	       (SELECT last_value FROM personalize.signal_signal_id_seq),
	       (SELECT last_value FROM personalize.purpose_purpose_id_seq)});
is("$max_event|$max_signal|$max_purpose",
	$node->safe_psql('shop', q{SELECT (SELECT max(event_id) FROM personalize.consent_event),
		(SELECT max(signal_id) + 1 FROM personalize.signal), (SELECT max(purpose_id) FROM personalize.purpose)}),
	'the last ids: of the newest event and purpose, and of dave\'s erased signal');

# pg_dump / pg_restore into a fresh database
my $dump = $node->basedir . '/shop.pgc';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('shop') ],
	'pg_dump succeeds');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
my ($stdout, $stderr);
my $ok = IPC::Run::run([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'pg_restore succeeds');
is($stderr, '', 'pg_restore reports nothing');

for my $t (sort keys %tables)
{
	is($node->safe_psql('restored', $tables{$t}), $before{$t}, "restored $t is identical");
}
is($node->safe_psql('restored', $answers_sql), $answers,
	'has_consent answers identically for every subject and purpose');
is($node->safe_psql('restored', $may_sql), $may,
	'may_process answers identically for every subject and purpose');
is($node->safe_psql('restored', $dpo_sql), 't', 'the DBA\'s grant on define_purpose is restored');

is($node->safe_psql('restored', q{SELECT personalize.subject_pseudonym('x')}),
	$node->safe_psql('shop', q{SELECT personalize.subject_pseudonym('x')}),
	'the same key: subject_pseudonym is the same in both databases');
is($node->safe_psql('restored',
		q{SELECT count(*) FROM personalize.purpose WHERE name = 'personalization'}),
	'1', 'the built-in purpose exists exactly once');
is($node->safe_psql('restored', q{SELECT count(*) FROM personalize.pseudonym_key}),
	'1', 'one pseudonym key');

# the sequences go on after the restored rows
my $new_event = $node->safe_psql('restored',
	q{SELECT personalize.grant_consent('frank', 'marketing', 'after restore')});
cmp_ok($new_event, '>', $max_event, "a new consent event gets an id above $max_event");
$node->safe_psql('restored', q{SELECT personalize.grant_consent('frank', 'personalization')});
is($node->safe_psql('restored', q{SELECT personalize.record_signal('frank', 'vegan', 'view')}),
	't', 'a signal is kept after the restore');
my $new_signal = $node->safe_psql('restored', q{SELECT max(signal_id) FROM personalize.signal});
cmp_ok($new_signal, '>', $max_signal, "a new signal gets an id above $max_signal");
$node->safe_psql('restored',
	q{SELECT personalize.define_purpose('analytics', 'counting visits', 'a faster shop')});
cmp_ok($node->safe_psql('restored', q{SELECT purpose_id FROM personalize.purpose WHERE name = 'analytics'}),
	'>', $max_purpose, "a new purpose gets an id above $max_purpose");
is($node->safe_psql('restored', q{SELECT personalize.has_consent('frank', 'marketing.email')}),
	't', 'consent granted after the restore counts (through the parent purpose)');

# the history is still append-only
for my $stmt (
	q{UPDATE personalize.consent_event SET source = 'tampered' WHERE subject = 'alice'},
	q{DELETE FROM personalize.consent_event WHERE subject = 'bob'},
	q{TRUNCATE personalize.consent_event CASCADE})
{
	my ($ret, $out, $err) = $node->psql('restored', $stmt);
	isnt($ret, 0, "refused after restore: $stmt");
	like($err, qr/table "consent_event" is an append-only ledger/, 'as an append-only ledger');
}
is($node->safe_psql('restored', $tables{consent_event} =~ s/ORDER BY event_id/WHERE event_id <= $max_event ORDER BY event_id/r),
	$before{consent_event}, 'the restored history is untouched');

# forget() in the restored database writes the pseudonym the original key
# gives
my $alice_pseudonym = $node->safe_psql('shop', q{SELECT personalize.subject_pseudonym('alice')});
$node->safe_psql('restored', q{SELECT personalize.forget('alice')});
is($node->safe_psql('restored', qq{SELECT count(*) > 0 FROM personalize.consent_event
	WHERE subject = '$alice_pseudonym'}),
	't', 'forget() after the restore pseudonymizes with the restored key');
is($node->safe_psql('restored', q{SELECT count(*) FROM personalize.consent_event WHERE subject = 'alice'}),
	'0', 'and leaves no event under the key');
is($node->safe_psql('restored', q{SELECT count(*) FROM customers WHERE customer_key = 'alice'}),
	'0', 'the restored registration still erases from the registered table');

$node->stop;
done_testing();
