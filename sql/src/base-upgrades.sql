-- sql/src/base-upgrades.sql: what the upgrade scripts need beyond SQL
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- An upgrade that changes a function's parameters drops and creates it;
-- this gives the new function the privileges the DBA changed on the old
-- one, so that pg_dump still dumps them (src/base/upgrade.c).  Only an
-- extension script may call it.
CREATE FUNCTION @extschema@._carry_function_privileges(old regprocedure, new regprocedure)
RETURNS integer
	AS 'MODULE_PATHNAME', 'personalize_carry_function_privileges'
	LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@._carry_function_privileges(regprocedure, regprocedure) FROM PUBLIC;
