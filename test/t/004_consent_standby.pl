# Perl TAP: match() on a hot standby, and a has_consent() call site that
# lives across snapshots inside one
# top-level statement (a PL/pgSQL loop) sees a withdrawal committed in
# between, on a hot standby (where recovery snapshots list running xids
# differently) as on the primary.  While an older transaction is still open,
# the withdrawal's commit changes neither xmin nor xmax of the next snapshot:
# only its list of running transactions.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'\nautovacuum = off");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION personalize;
	SELECT personalize.define_purpose('marketing', 'emails about offers', 'early access to sales');
	SELECT personalize.grant_consent('alice', 'marketing');
	CREATE TABLE bump (x int);
	CREATE FUNCTION probe() RETURNS text LANGUAGE plpgsql AS $$
	DECLARE
		answers text := '';
		ok boolean;
		withdrawn bigint;
	BEGIN
		FOR i IN 1 .. 2 LOOP
			ok := personalize.has_consent('alice', 'marketing');   -- one call site
			answers := answers || ' has_consent=' || ok;
			EXIT WHEN i = 2;
			LOOP	-- wait until a new snapshot sees the withdrawal
				SELECT count(*) INTO withdrawn FROM personalize.consent
				 WHERE subject = 'alice' AND state = 'w';
				EXIT WHEN withdrawn = 1;
				PERFORM pg_sleep(0.05);
			END LOOP;
			answers := answers || ' (consent table now says withdrawn)';
		END LOOP;
		RETURN answers;
	END
	$$;
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

my $old = $primary->background_psql('postgres');
$old->query_safe('BEGIN; SELECT txid_current()');          # an older running xid O
my $w = $primary->background_psql('postgres');
$w->query_safe('BEGIN');
$w->query_safe(q{SELECT personalize.withdraw_consent('alice', 'marketing')});   # xid W, open
$primary->safe_psql('postgres', 'INSERT INTO bump VALUES (1)');                # xid W+1 commits
$primary->wait_for_catchup($standby);

my $r = $standby->background_psql('postgres');
$r->query_until(qr/started/, "\\echo started\nSELECT probe();\n");
$standby->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query = 'SELECT probe();' AND wait_event = 'PgSleep'}) or die;
note 'standby snapshot before: ' . $standby->safe_psql('postgres', 'SELECT pg_current_snapshot()');
$w->query_safe('COMMIT');
$primary->wait_for_catchup($standby);
note 'standby snapshot after: ' . $standby->safe_psql('postgres', 'SELECT pg_current_snapshot()');
my $out = $r->query_safe('');
note "probe(): $out";
is($out, ' has_consent=true (consent table now says withdrawn) has_consent=false',
	'on a standby, the reused call site sees the replayed withdrawal');
is($standby->safe_psql('postgres', q{SELECT personalize.has_consent('alice', 'marketing')}), 'f',
	'a new top-level statement does');
$old->query_safe('COMMIT');
$_->quit for ($old, $w, $r);

# control: the same sequence with the probe on the primary
$primary->safe_psql('postgres', q{SELECT personalize.grant_consent('alice', 'marketing')});
$old = $primary->background_psql('postgres');
$old->query_safe('BEGIN; SELECT txid_current()');
$w = $primary->background_psql('postgres');
$w->query_safe('BEGIN');
$w->query_safe(q{SELECT personalize.withdraw_consent('alice', 'marketing')});
$primary->safe_psql('postgres', 'INSERT INTO bump VALUES (1)');
$r = $primary->background_psql('postgres');
$r->query_until(qr/started/, "\\echo started\nSELECT probe();\n");
$primary->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query = 'SELECT probe();' AND wait_event = 'PgSleep'}) or die;
$w->query_safe('COMMIT');
$out = $r->query_safe('');
note "primary probe(): $out";
is($out, ' has_consent=true (consent table now says withdrawn) has_consent=false',
	'on the primary, the reused call site sees the withdrawal');
$old->query_safe('COMMIT');
$_->quit for ($old, $w, $r);

# the readers of the ledgers only read, so they work on a standby too
$primary->wait_for_catchup($standby);
my $verify = q{SELECT string_agg(ledger || ':' || entries || ':' || intact, ',' ORDER BY ledger)
                 FROM personalize.verify_ledgers()};
is($standby->safe_psql('postgres', $verify), $primary->safe_psql('postgres', $verify),
	'verify_ledgers() on the standby agrees with the primary');
is($standby->safe_psql('postgres', q{
	SELECT bool_and(intact) FROM personalize.verify_ledgers(personalize.ledger_digest())}), 't',
	'ledger_digest() on the standby');
is($standby->safe_psql('postgres', q{
	SELECT jsonb_array_length(personalize.export_subject('alice') -> 'recipients')}), '0',
	'export_subject() on the standby, with its recipients');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM personalize.recipients('alice')}), '0',
	'recipients() on the standby');
# --- match() on the standby: its own shared index, the primary's changes
# through the replicated change log ---
$primary->safe_psql('postgres', q{
	SELECT personalize.define_tag('running');
	INSERT INTO personalize.offers (offer_id, title) VALUES ('shoes', 'Running shoes');
	INSERT INTO personalize.offer_tags (offer_id, tag, weight) VALUES ('shoes', 'running', 2);
	SELECT personalize.grant_consent('bob', 'personalization');
	SELECT personalize.state_intent('bob', 'running', 2);
});
$primary->wait_for_catchup($standby);
my $match_sql = q{SELECT string_agg(offer_id || '=' || score, ',') FROM personalize.match('bob')};
my $info_sql = q{SELECT format('%s,%s,%s', shared, builds, overlay_offers) FROM personalize.match_cache_info()};
is($standby->safe_psql('postgres', "$match_sql; $info_sql"), "shoes=4\nt,1,0",
	'standby: match() builds a shared index');
$primary->safe_psql('postgres', q{
	INSERT INTO personalize.offers (offer_id, title) VALUES ('marathon', 'Marathon entry');
	INSERT INTO personalize.offer_tags (offer_id, tag, weight) VALUES ('marathon', 'running', 10);
});
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "$match_sql; $info_sql"), "marathon=20,shoes=4\nt,0,1",
	'standby: a new session maps it and sees the primary\'s change through the overlay');
$primary->safe_psql('postgres', q{UPDATE personalize.tag SET description = 'running and jogging'});
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "$match_sql; $info_sql"), "marathon=20,shoes=4\nt,1,0",
	'standby: a change to a tag rebuilds the index there');

done_testing();
