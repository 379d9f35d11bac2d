--
-- pg_dump and restore of a Citus coordinator: the dump carries the
-- extension's tables, ledgers and keys, and none of the copies or their
-- shards (Citus hides the shards from pg_dump; the copies are members of
-- the extension, created empty), but for the placed copies of intents and
-- signals, which come back as local tables; in the restored database the
-- ledgers verify, consent answers as before, and distribute() copies
-- afresh.
--
\set SHOW_CONTEXT never
SELECT count(*) AS consents, sum(CASE WHEN state = 'g' THEN 1 ELSE 0 END) AS granted
  FROM personalize.consent \gset source_
SELECT personalize.ledger_digest() AS digest \gset
\! createdb shop_restored
\! pg_dump -Fc shop | pg_restore --exit-on-error -d shop_restored
\c shop_restored
SET search_path = public, personalize;
-- no copy came with the dump, no shard of one, no Citus table
SELECT count(*) AS copied_rows FROM consent_replica;
SELECT count(*) AS shard_tables FROM pg_class WHERE relname ~ '_replica_[0-9]+$';
SELECT count(*) AS citus_tables FROM pg_dist_partition;
-- the copies of intents and signals placed with members (placement.sql)
-- are tables of the schema, not of the extension: pg_dump keeps them, and
-- they come back local, read by nothing, with no trigger feeding them;
-- distribute() drops them (below)
SELECT count(*) AS placed_copies FROM pg_class
 WHERE relnamespace = 'personalize'::regnamespace AND relname IN ('intent_by_subject', 'signal_by_subject');
SELECT count(*) AS copy_triggers FROM pg_trigger WHERE tgname ~ '_replicate_';
-- what each customer agreed to, as on the coordinator, provably
SELECT count(*) = :source_consents AS same_consents,
       sum(CASE WHEN state = 'g' THEN 1 ELSE 0 END) = :source_granted AS same_grants
  FROM consent;
SELECT ledger, intact, problem FROM verify_ledgers(:'digest') ORDER BY ledger;
SELECT has_consent('600', 'newsletter') AS consent_of_600,
       has_consent('7', 'newsletter') AS consent_of_7;
-- the shop's tables come back local; distribute() copies afresh
SELECT count(*) AS copies, sum(rows_copied) AS rows_copied FROM distribute() \gset
SELECT :copies AS copies,
       :rows_copied = (SELECT count(*) FROM consent) + (SELECT count(*) FROM purpose)
       + (SELECT count(*) FROM access_grant) + (SELECT count(*) FROM data_category) + (SELECT count(*) FROM tag)
       + (SELECT count(*) FROM offers) + (SELECT count(*) FROM offer_tags)
       + (SELECT count(*) FROM match_catalog_version) + (SELECT count(*) FROM match_catalog_change)
       + (SELECT count(*) FROM intent) + (SELECT count(*) FROM signal) AS copied_everything;
SELECT count(*) = :source_consents AS consent_copied FROM consent_replica;
SELECT count(*) AS placed_copies FROM pg_class
 WHERE relnamespace = 'personalize'::regnamespace AND relname IN ('intent_by_subject', 'signal_by_subject');
\c shop
SET client_min_messages = warning;
DROP DATABASE shop_restored;
