# Perl TAP: logical replication, as README "Replication" sets it up.  A
# subscriber that receives the consent state, its history, the purposes,
# the registrations and the access grants enforces what the publisher
# decides: a withdrawal, an objection and a revocation on the publisher
# bind the subscriber's next statement, also in sessions that keep what
# they read between statements.  The subscriber writes none of it itself
# (its ledgers refuse local entries, its maintenance leaves the
# subscribed tables to the publisher, its purge the tables the
# subscription fills).  A publication FOR ALL TABLES leaves the
# publisher's maintenance working (every table has a replica identity).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pub = PostgreSQL::Test::Cluster->new('publisher');
$pub->init(allows_streaming => 'logical');
$pub->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'");
$pub->start;
my $sub = PostgreSQL::Test::Cluster->new('subscriber');
$sub->init;
$sub->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'");
$sub->start;

for my $node ($pub, $sub)
{
	$node->safe_psql('postgres', q{
		CREATE DATABASE shop;
		CREATE ROLE agent;
		CREATE ROLE lead;
	});
}
$pub->safe_psql('shop', q{
	SET client_min_messages = warning;
	CREATE EXTENSION personalize;
	SET search_path = public, personalize;
	CREATE TABLE cases (case_id int PRIMARY KEY, customer_id bigint NOT NULL, note text);
	INSERT INTO cases SELECT g, g, 'case ' || g FROM generate_series(1, 200) g;
	GRANT SELECT ON cases TO agent, lead;
	SELECT register_table('cases', 'customer_id');
	SELECT protect('cases');
	SELECT define_category('user.preference.sport', 'personal', 'the sports a customer likes');
	SELECT define_purpose('support', 'answering a customer''s cases', 'help with what you bought',
	                      lawful_basis => 'contract');
	SELECT define_purpose('newsletter', 'a monthly mail', 'early access to sales',
	                      '{user.preference.sport}');
	SELECT grant_consent(g::text, 'newsletter', 'form') FROM generate_series(1, 150) g;
	SELECT withdraw_consent(g::text, 'newsletter', 'footer') FROM generate_series(1, 150, 7) g;
	SELECT withdraw_consent(g::text, 'support', 'letter') FROM generate_series(190, 200) g;
	SELECT add_access_approver('lead', 'cases');
	SET ROLE lead;
	SELECT grant_access('agent', 'cases', 'support', '1 hour', 'case 7');
	RESET ROLE;
	-- the offer catalog, and what customers said they want
	SELECT define_tag(t, category => 'user.preference.sport') FROM unnest(ARRAY['running', 'cycling', 'climbing']) t;
	INSERT INTO offers (offer_id, title) SELECT 'offer-' || g, 'Offer ' || g FROM generate_series(1, 30) g;
	INSERT INTO offer_tags (offer_id, tag, weight)
	SELECT 'offer-' || g, (ARRAY['running', 'cycling', 'climbing'])[1 + g % 3], 1 + g % 4 FROM generate_series(1, 30) g;
	SELECT grant_consent(g::text, 'personalization', 'form') FROM generate_series(1, 20) g;
	SELECT state_intent(g::text, (ARRAY['running', 'cycling', 'climbing'])[1 + g % 3], 1 + g % 2) FROM generate_series(1, 20) g;
});

# the subscriber's schema is the publisher's (its policies, labels and the
# extension's empty tables), the data comes through the subscription
my $schema = $pub->basedir . '/schema.sql';
$pub->command_ok([ 'pg_dump', '-s', '-f', $schema, '-d', $pub->connstr('shop') ], 'pg_dump -s of the publisher');
$sub->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $schema, '-d', $sub->connstr('shop') ],
	'the subscriber gets the publisher\'s schema');

# README "Replication": the publication
$pub->safe_psql('shop', q{
	CREATE PUBLICATION personalize_consent FOR TABLE
		personalize.data_category WHERE (NOT builtin),
		personalize.purpose WHERE (NOT builtin),
		personalize.purpose_category WHERE (NOT builtin),
		personalize.consent, personalize.consent_event,
		personalize.subject_table, personalize.protected_table,
		personalize.access_request, personalize.access_grant, personalize.access_event,
		personalize.tag, personalize.offers, personalize.offer_tags,
		personalize.intent, personalize.signal,
		public.cases;
});
my $pub_connstr = $pub->connstr() . ' dbname=shop';
$sub->safe_psql('shop', qq{
	CREATE SUBSCRIPTION personalize_consent CONNECTION '$pub_connstr' PUBLICATION personalize_consent;
});
$sub->wait_for_subscription_sync($pub, 'personalize_consent', 'shop');

my $state_sql = q{
	SELECT (SELECT count(*) FROM personalize.consent) || '/' ||
	       (SELECT count(*) FROM personalize.consent_event) || '/' ||
	       (SELECT count(*) FROM personalize.purpose) || '/' ||
	       (SELECT count(*) FROM personalize.access_grant) || '/' ||
	       (SELECT count(*) FROM cases WHERE personalize.has_consent(customer_id, 'newsletter')) || '/' ||
	       (SELECT count(*) FROM cases WHERE personalize.may_process(customer_id, 'support'))};
is($sub->safe_psql('shop', $state_sql), $pub->safe_psql('shop', $state_sql),
	'the subscriber holds the publisher\'s consent, history, purposes and grants, and answers alike');
# the consent history hashes its subjects with the pseudonym key, which is
# never published: the subscriber verifies the chains that name nobody
my $verify_sql = q{
	SELECT string_agg(ledger || ':' || intact || coalesce(':' || problem, ''), ',' ORDER BY ledger)
	  FROM personalize.verify_ledgers()};
is($sub->safe_psql('shop', $verify_sql),
	'access:true,consent:false:entry 1 cannot be checked on a logical replication subscriber: '
	. 'the pseudonym key stays with the publisher, where the chain verifies,custody:true,purge:true',
	'the subscriber verifies the access ledger, and says why not the consent history');
is($sub->safe_psql('shop', q{SELECT count(*) FROM personalize.pseudonym_key}), '0',
	'the subscriber has no pseudonym key');
is($sub->safe_psql('shop', q{SET ROLE agent; SELECT count(*) FROM cases}), '189',
	'the grant lets the agent read on the subscriber, less the customers who objected');

# match() on the subscriber ranks as on the publisher, and follows the
# publisher's catalog and intents
my $match_sql = q{
	SELECT string_agg(s || ':' || m.offer_id || '=' || round(m.score::numeric, 6), ',' ORDER BY s, m.offer_id)
	  FROM generate_series(1, 20) s, personalize.match(s::text, 3) m};
is($sub->safe_psql('shop', $match_sql), $pub->safe_psql('shop', $match_sql),
	'match() on the subscriber ranks as on the publisher');
my $ranker = $sub->background_psql('shop');
$ranker->query_safe($match_sql);
$pub->safe_psql('shop', q{
	UPDATE personalize.offer_tags SET weight = 9 WHERE offer_id = 'offer-7';
	UPDATE personalize.offers SET enabled = false WHERE offer_id = 'offer-3';
	INSERT INTO personalize.offers (offer_id, title) VALUES ('offer-new', 'New');
	INSERT INTO personalize.offer_tags (offer_id, tag, weight) VALUES ('offer-new', 'running', 8);
	SELECT personalize.state_intent('5', 'climbing', 3);
	SELECT personalize.withdraw_consent('6', 'personalization', 'app');
});
$pub->wait_for_catchup('personalize_consent');
is($ranker->query_safe($match_sql), $pub->safe_psql('shop', $match_sql),
	'a session on the subscriber that keeps its index sees the publisher\'s changes at its next statement');
$ranker->quit;

# sessions on the subscriber that keep what they read between statements
my $reader = $sub->background_psql('shop');
my $newsletter_sql = q{SELECT count(*) FROM cases WHERE personalize.has_consent(customer_id, 'newsletter')};
my $support_sql = q{SELECT count(*) FROM cases WHERE personalize.may_process(customer_id, 'support')};
my $news_before = $reader->query_safe($newsletter_sql);
is($reader->query_safe($support_sql), '189', 'reader: 189 customers may be processed for support');
is($reader->query_safe($support_sql), '189', 'reader: the same, from the objections it keeps');
my $agent = $sub->background_psql('shop');
$agent->query_safe('SET ROLE agent');
is($agent->query_safe('SELECT count(*) FROM cases'), '189', 'agent: reads through its grant');
is($agent->query_safe('SELECT count(*) FROM cases'), '189', 'agent: again, from the grants it keeps');

# the publisher decides
$pub->safe_psql('shop', q{
	SELECT personalize.withdraw_consent('2', 'newsletter', 'unsubscribed');
	SELECT personalize.withdraw_consent('3', 'support', 'objection by letter');
	SELECT personalize.revoke_access(grant_id) FROM personalize.access_grant WHERE reason = 'case 7';
});
$pub->wait_for_catchup('personalize_consent');

is($reader->query_safe($newsletter_sql), $news_before - 1,
	'reader: the withdrawal on the publisher binds the next statement');
is($reader->query_safe($support_sql), '188', 'reader: so does the objection');
is($agent->query_safe('SELECT count(*) FROM cases'), '0', 'agent: the revocation binds the next statement');
$reader->quit;
$agent->quit;
like($sub->safe_psql('shop', $verify_sql), qr/^access:true,consent:false:entry 1 cannot be checked on a logical replication subscriber/,
	'the subscriber\'s access ledger still verifies');
is($pub->safe_psql('shop', q{
	SELECT string_agg(ledger || ':' || intact, ',' ORDER BY ledger) FROM personalize.verify_ledgers()}),
	'access:true,consent:true,custody:true,purge:true', 'the publisher\'s ledgers verify');

# the subscriber writes none of it itself
my ($ret, $stdout, $stderr) = $sub->psql('shop',
	q{SELECT personalize.grant_consent('9', 'newsletter', 'a form on the subscriber')});
isnt($ret, 0, 'a consent written on the subscriber is refused');
like($stderr, qr/cannot write to ledger "consent_event" of a logical replication subscriber/,
	'the refusal says the publisher writes it');
($ret, $stdout, $stderr) = $sub->psql('shop',
	q{SELECT personalize.define_purpose('local', 'a purpose of the subscriber', 'nothing')});
like($stderr, qr/cannot write to table "purpose" of a logical replication subscriber/,
	'a purpose defined on the subscriber is refused: its id would collide with the publisher\'s next one');
($ret, $stdout, $stderr) = $sub->psql('shop', q{SELECT personalize.state_intent('5', 'running', 1)});
like($stderr, qr/cannot write to table "intent" of a logical replication subscriber/,
	'so is an intent stated there');
($ret, $stdout, $stderr) = $sub->psql('shop', q{SELECT personalize.forget('5')});
isnt($ret, 0, 'forget() on the subscriber is refused: the publisher erases, and the erasure arrives');
# (the change log of the offer catalog is the subscriber's own: the applied
# changes write it, and its maintenance folds it)
like($sub->safe_psql('shop', q{
	SELECT string_agg(duty || ':' || affected, ',' ORDER BY duty) FROM personalize.run_maintenance()}),
	qr/^expire_consents:0,expire_grants:0,fold_match_changes:\d+,purge:0,ship_copies:0,trim_purge_log:0$/,
	'the subscriber\'s maintenance pass runs, and leaves the subscribed tables to the publisher');
$sub->safe_psql('shop', q{
	ALTER TABLE cases ADD COLUMN opened_at timestamptz NOT NULL DEFAULT now() - interval '2 years';
	SELECT personalize.set_retention('cases', 'opened_at', '30 days');
});
($ret, $stdout, $stderr) = $sub->psql('shop', q{SELECT personalize.purge('cases')});
like($stderr, qr/cannot purge table public\.cases of a logical replication subscriber/,
	'purging a table the subscription fills is refused');
is($sub->safe_psql('shop', q{
	SELECT affected FROM personalize.run_maintenance() WHERE duty = 'purge'}), '0',
	'the maintenance pass purges none of it');
is($sub->safe_psql('shop', q{SELECT count(*) FROM cases}), '200', 'every row is still there');

# a publication FOR ALL TABLES (a major upgrade by logical replication)
# leaves the publisher working: every table has a replica identity
is($pub->safe_psql('shop', q{
	SELECT count(*) FROM pg_class c JOIN pg_depend d
	    ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
	   AND d.refclassid = 'pg_extension'::regclass
	 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'personalize')
	   AND c.relkind = 'r' AND c.relreplident IN ('d', 'n')
	   AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)}), '0',
	'every table of the extension has a replica identity');
$pub->safe_psql('shop', q{
	CREATE PUBLICATION everything FOR ALL TABLES;
	SELECT personalize.define_tag('hiking', description => 'walks in the hills');
	INSERT INTO personalize.offers (offer_id, title) VALUES ('boots', 'Hiking boots');
	INSERT INTO personalize.offer_tags (offer_id, tag, weight) VALUES ('boots', 'hiking', 2);
	SELECT personalize.set_retention('cases', 'case_opened', '30 days')
	  FROM (SELECT 1) x WHERE false;
});
is($pub->safe_psql('shop', q{
	SELECT count(*) FROM personalize.run_maintenance()}), '6',
	'run_maintenance() passes on a publisher FOR ALL TABLES');
is($pub->safe_psql('shop', q{
	SELECT personalize._match_fold() >= 0}), 't', 'the match change log is pruned on it');
$pub->safe_psql('shop', q{SELECT personalize.remove_access_approver('lead', 'cases')});
is($pub->safe_psql('shop', q{SELECT count(*) FROM personalize.access_approver}), '0',
	'remove_access_approver() works on it');

# the same publication, copied whole into a new server that has the
# extension (a major upgrade by logical replication): the built-in rows
# are the new server's own, the rest is the publisher's, and after the
# switch the new server writes on
my $new = PostgreSQL::Test::Cluster->new('upgraded');
$new->init;
$new->append_conf('postgresql.conf', "shared_preload_libraries = 'personalize'");
$new->start;
$new->safe_psql('postgres', q{CREATE DATABASE shop; CREATE ROLE agent; CREATE ROLE lead;});
$pub->command_ok([ 'pg_dump', '-s', '-f', $schema, '-d', $pub->connstr('shop') ], 'pg_dump -s of the publisher, again');
$new->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $schema, '-d', $new->connstr('shop') ],
	'the new server gets the publisher\'s schema');
$new->safe_psql('shop', qq{
	CREATE SUBSCRIPTION everything CONNECTION '$pub_connstr' PUBLICATION everything;
});
$new->wait_for_subscription_sync($pub, 'everything', 'shop');
is($new->safe_psql('shop', $state_sql), $pub->safe_psql('shop', $state_sql),
	'FOR ALL TABLES: the new server holds the publisher\'s consent, history, purposes and grants');
my $builtin_sql = q{
	SELECT (SELECT count(*) FROM personalize.data_category WHERE builtin) || '/' ||
	       (SELECT count(*) FROM personalize.purpose WHERE builtin) || '/' ||
	       (SELECT count(*) FROM personalize.personal_data_name WHERE builtin) || '/' ||
	       (SELECT version FROM personalize.match_catalog_version)};
is($new->safe_psql('shop', $builtin_sql), $pub->safe_psql('shop', $builtin_sql),
	'its built-in rows are there once, and the catalog version is the publisher\'s');
is($new->safe_psql('shop', $match_sql), $pub->safe_psql('shop', $match_sql),
	'match() ranks there as on the publisher');
is($new->safe_psql('shop', q{
	SELECT string_agg(ledger || ':' || intact, ',' ORDER BY ledger) FROM personalize.verify_ledgers()}),
	'access:true,consent:true,custody:true,purge:true',
	'with the key copied, every ledger verifies there');
$pub->safe_psql('shop', q{SELECT personalize.withdraw_consent('4', 'newsletter', 'footer')});
$pub->wait_for_catchup('everything');
is($new->safe_psql('shop', $state_sql), $pub->safe_psql('shop', $state_sql),
	'a withdrawal on the publisher reaches it');

# the switch: the subscription goes, the sequences move past the copied
# rows (README "Replication"), and the new server writes
$new->safe_psql('shop', q{DROP SUBSCRIPTION everything});
$new->safe_psql('shop', q{
	DO $$
	DECLARE
		r record;
		m bigint;
	BEGIN
		FOR r IN
			SELECT d.objid::regclass AS seq, d.refobjid::regclass AS tbl, a.attname
			  FROM pg_depend d
			  JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
			  JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
			 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
			   AND d.deptype IN ('a', 'i')
		LOOP
			EXECUTE format('SELECT max(%I) FROM %s', r.attname, r.tbl) INTO m;
			IF m IS NOT NULL THEN
				PERFORM setval(r.seq, m);
			END IF;
		END LOOP;
	END
	$$;
});
$new->safe_psql('shop', q{SELECT personalize.grant_consent('4', 'newsletter', 'back again')});
is($new->safe_psql('shop', q{SELECT personalize.has_consent('4', 'newsletter')}), 't',
	'after the switch the new server records consent');
is($new->safe_psql('shop', q{
	SELECT string_agg(ledger || ':' || intact, ',' ORDER BY ledger) FROM personalize.verify_ledgers()}),
	'access:true,consent:true,custody:true,purge:true', 'and its ledgers grow on, intact');

$new->stop;
$sub->stop;
$pub->stop;
done_testing();
