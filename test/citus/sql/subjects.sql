--
-- A subject's rights on a Citus cluster: export_subject() and forget() read
-- and erase through SQL that Citus routes to the shards of distributed and
-- reference tables, each table's code running as its owner on the node that
-- holds the shard.
--
\set SHOW_CONTEXT never
SET search_path = public, personalize;
SET personalize.review_ddl = off;

-- the shop's tables belong to shop_owner: customers distributed, its
-- loyalty tiers a reference table
-- (Citus connects to the workers as the role whose code runs: it must log in)
CREATE ROLE shop_owner LOGIN;
GRANT CREATE, USAGE ON SCHEMA public TO shop_owner;
SET citus.enable_unsafe_triggers = on;
SET ROLE shop_owner;
CREATE TABLE customers (customer_id bigint PRIMARY KEY, email text);
CREATE TABLE tiers (customer_id bigint PRIMARY KEY, tier text);
SELECT create_distributed_table('customers', 'customer_id');
SELECT create_reference_table('tiers');
INSERT INTO customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 100) g;
INSERT INTO tiers SELECT g, 'gold' FROM generate_series(1, 100, 10) g;

-- the attack: code of the owner's that would make the owner superuser if it
-- ran as the caller of forget()
CREATE FUNCTION customers_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		EXECUTE 'ALTER ROLE shop_owner SUPERUSER';
	EXCEPTION WHEN insufficient_privilege THEN
		NULL;
	END;
	IF current_user <> 'shop_owner' THEN
		RAISE EXCEPTION 'customers_guard ran as %', current_user;
	END IF;
	IF OLD.customer_id = 23 THEN
		RAISE EXCEPTION 'customer 23 is on legal hold';
	END IF;
	RETURN OLD;
END
$$;
CREATE TRIGGER customers_guard BEFORE DELETE ON customers
	FOR EACH ROW EXECUTE FUNCTION customers_guard();
RESET ROLE;
RESET citus.enable_unsafe_triggers;
SELECT register_table('customers', 'customer_id');
SELECT register_table('tiers', 'customer_id');

-- an export reads both
SELECT t.key, jsonb_array_length(t.value) AS rows
  FROM jsonb_each(export_subject('21') -> 'tables') t ORDER BY 1;
SELECT export_subject('21') -> 'tables' -> 'public.customers' -> 0 ->> 'email' AS email;

-- forget() erases the distributed table, as its owner on the workers ...
SELECT unregister_table('tiers');
SELECT forget('22') -> 'tables' AS erased;
SELECT count(*) AS customer_22 FROM customers WHERE customer_id = 22;
-- the owner's trigger runs on the worker that holds the row, and its error
-- stops the erasure, with nothing erased
SELECT forget('23');
SELECT count(*) AS customer_23 FROM customers WHERE customer_id = 23;
SELECT result AS shop_owner_is_superuser FROM run_command_on_all_nodes(
	$$SELECT rolsuper FROM pg_roles WHERE rolname = 'shop_owner'$$) ORDER BY nodeid;

-- ... but not a reference table once distribute() keeps the consent copies
SELECT register_table('tiers', 'customer_id');
SELECT forget('21');
SELECT count(*) AS customer_21 FROM customers WHERE customer_id = 21;
SELECT count(*) AS tier_21 FROM tiers WHERE customer_id = 21;
SELECT unregister_table('tiers');
-- ... unless the extension's owner owns it, whose connections write the copies
CREATE TABLE wishlists (customer_id bigint, item text);
SELECT create_reference_table('wishlists');
INSERT INTO wishlists SELECT g % 50, 'item ' || g FROM generate_series(1, 100) g;
SELECT register_table('wishlists', 'customer_id');
SELECT forget('31') -> 'tables' AS erased;
SELECT count(*) AS wishlist_31 FROM wishlists WHERE customer_id = 31;
SELECT unregister_table('wishlists');

-- classification, review() and a partner's share() of the distributed
-- table: the consent filter runs on the shards, the custody log on the
-- coordinator, and forget() names the partner to tell
SELECT classify('customers', 'email', 'user.contact.email');
SELECT table_name, column_name, category FROM classified_columns
 WHERE table_name = 'customers'::regclass;
SET client_min_messages = warning;
SELECT define_purpose('partner_ads', 'offers of a partner', 'discounts', '{user.contact.email}');
RESET client_min_messages;
SELECT count(grant_consent(g::text, 'partner_ads')) FROM generate_series(30, 59) g;
SELECT withdraw_consent('31', 'partner_ads') > 0 AS withdrawn;
SELECT register_partner('Acme Ads', 'DPA-2026-017', '{partner_ads}', '{user.contact.email}', '2099-12-31');
SELECT count(*) AS shared, min(s ->> 'email') AS first FROM share('Acme Ads', 'customers') s;
SELECT table_name, columns, row_count, subjects FROM custody_log;
SELECT forget('40') -> 'partners_to_notify' -> 0 ->> 'partner' AS notify;
SELECT severity, finding FROM review() WHERE object = 'public.customers' ORDER BY 1, 2;
