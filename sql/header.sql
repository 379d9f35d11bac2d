-- sql/header.sql: the start of the install script
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION personalize" to load this file. \quit

GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
