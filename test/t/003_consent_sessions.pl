# Perl TAP: a withdrawal of consent committed in one session binds the next
# statement of every other session, including sessions that already asked
# has_consent() (warm call sites, prepared statements, bulk-loaded counts,
# an open READ COMMITTED transaction).  A statement already running keeps its
# snapshot, as does a REPEATABLE READ transaction; an uncommitted withdrawal
# binds nobody.  Long-lived sessions are background psql processes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'");
$node->start;

# 2000 bigint subjects, all consenting to marketing except 7; and alice, bob,
# carol by name
$node->safe_psql('postgres', q{
	CREATE EXTENSION personalize;
	SELECT personalize.define_purpose('marketing', 'emails about offers', 'early access to sales');
	CREATE TABLE subjects (id bigint PRIMARY KEY);
	INSERT INTO subjects SELECT g FROM generate_series(1, 2000) g;
	SELECT count(personalize.grant_consent(s, 'marketing', 'setup'))
	  FROM (SELECT g::text FROM generate_series(1, 2000) g WHERE g <> 7
	        UNION ALL VALUES ('alice'), ('bob'), ('carol'), ('dan')) AS t(s);
});

my $count_sql = q{SELECT count(*) FROM subjects WHERE personalize.has_consent(id, 'marketing')};
my $alice_sql = q{SELECT personalize.has_consent('alice', 'marketing')};

# withdraw in a session of its own, committed when it returns
sub withdraw
{
	my ($subject) = @_;
	$node->safe_psql('postgres',
		qq{SELECT personalize.withdraw_consent('$subject', 'marketing', 'test')});
}

my $reader = $node->background_psql('postgres');
my $writer = $node->background_psql('postgres');

# --- an open READ COMMITTED transaction with warm call sites ---
$reader->query_safe('BEGIN');
$reader->query_safe(q{PREPARE q(text) AS SELECT personalize.has_consent($1, 'marketing')});
is($reader->query_safe($alice_sql), 't', 'reader: alice consents');
# six executions: the plan cache switches to a generic plan
is($reader->query_safe(q{EXECUTE q('alice')}), 't', "reader: prepared, alice consents ($_)")
  for 1 .. 6;
is($reader->query_safe($count_sql), '1999', 'reader: 1999 subjects consent (bulk-loaded)');

withdraw('alice');
withdraw('1500');

is($reader->query_safe($alice_sql), 'f',
	'reader, same transaction: the next statement sees alice\'s withdrawal');
is($reader->query_safe(q{EXECUTE q('alice')}), 'f',
	'reader, same transaction: so does the prepared statement');
is($reader->query_safe($count_sql), '1998',
	'reader, same transaction: the bulk-loaded count drops by one');
$reader->query_safe('COMMIT');

# --- an uncommitted withdrawal binds nobody; its commit binds at once ---
is($reader->query_safe(q{EXECUTE q('bob')}), 't', 'reader: bob consents');
$writer->query_safe('BEGIN');
$writer->query_safe(q{SELECT personalize.withdraw_consent('bob', 'marketing', 'test')});
$writer->query_safe(q{SELECT personalize.withdraw_consent('2', 'marketing', 'test')});
is($reader->query_safe(q{EXECUTE q('bob')}), 't', 'reader: an uncommitted withdrawal does not bind');
is($reader->query_safe($count_sql), '1998', 'reader: nor in a bulk-loaded count');
$writer->query_safe('COMMIT');
is($reader->query_safe(q{EXECUTE q('bob')}), 'f', 'reader: the committed withdrawal binds');
is($reader->query_safe($count_sql), '1997', 'reader: and the count drops by one');

# ... and a rolled back one leaves consent granted
$writer->query_safe('BEGIN');
$writer->query_safe(q{SELECT personalize.withdraw_consent('carol', 'marketing', 'test')});
is($reader->query_safe(q{EXECUTE q('carol')}), 't', 'reader: carol consents while the withdrawal is pending');
$writer->query_safe('ROLLBACK');
is($reader->query_safe(q{EXECUTE q('carol')}), 't', 'reader: and after it is rolled back');

# --- a statement already running keeps its snapshot ---
# Row 1 asks about carol; row 2 waits for an advisory lock the writer holds,
# then asks about dan, after dan's withdrawal committed.
$writer->query_safe('SELECT pg_advisory_lock(4711)');
my $long = $node->background_psql('postgres');
$long->query_until(qr/started/, q{\echo started
SELECT x,
       CASE WHEN x = 2 THEN pg_advisory_lock_shared(4711)::text || 'waited' END,
       personalize.has_consent(CASE x WHEN 1 THEN 'carol' ELSE 'dan' END, 'marketing')
  FROM generate_series(1, 2) x;
});
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_locks
	WHERE locktype = 'advisory' AND objid = 4711 AND NOT granted})
  or die 'the long statement did not wait for the lock';
withdraw('dan');
is($reader->query_safe(q{EXECUTE q('dan')}), 'f', 'reader: dan\'s withdrawal is committed');
$writer->query_safe('SELECT pg_advisory_unlock(4711)');
is($long->query_safe(''), "1||t\n2|waited|t",
	'a statement that started before the withdrawal committed still sees consent for dan');
is($long->query_safe(q{SELECT personalize.has_consent('dan', 'marketing')}), 'f',
	'the next statement of that session does not');
$long->quit;

# --- REPEATABLE READ keeps the transaction's snapshot (MVCC, as documented) ---
$reader->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
is($reader->query_safe(q{EXECUTE q('carol')}), 't', 'repeatable read: carol consents');
is($reader->query_safe($count_sql), '1997', 'repeatable read: 1997 subjects consent');
withdraw('carol');
withdraw('3');
is($reader->query_safe(q{EXECUTE q('carol')}), 't',
	'repeatable read: the transaction snapshot predates carol\'s withdrawal');
is($reader->query_safe($count_sql), '1997', 'repeatable read: so does the count');
$reader->query_safe('COMMIT');
is($reader->query_safe(q{EXECUTE q('carol')}), 'f', 'the next transaction sees the withdrawal');
is($reader->query_safe($count_sql), '1996', 'and the count drops by one');

# --- consent granted again binds the same way ---
$writer->query_safe(q{SELECT personalize.grant_consent('alice', 'marketing', 'test')});
is($reader->query_safe($alice_sql), 't', 'a grant committed in another session binds the next statement');

$reader->quit;
$writer->quit;
$node->stop;
done_testing();
