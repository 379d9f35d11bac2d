-- sql/src/base-footer.sql: the end of the install script
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- Load the library now: it registers the "personalize" label provider,
-- which a restore needs for the SECURITY LABEL commands that follow
-- CREATE EXTENSION, even where it is not preloaded (a restore creates C
-- functions without loading their library).
LOAD 'MODULE_PATHNAME';

-- Tell the background worker, if it runs, that this database needs a
-- scheduler (a no-op without shared_preload_libraries).
SELECT @extschema@._worker_notify();
