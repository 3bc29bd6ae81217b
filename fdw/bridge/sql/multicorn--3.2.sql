/* multicorn--3.2.sql: Tiny Dancer's multicorn-compatible bridge */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION multicorn" to load this file. \quit

CREATE FUNCTION multicorn_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

COMMENT ON FUNCTION multicorn_handler() IS 'multicorn foreign-data wrapper handler (runs Python FDW classes)';

CREATE FUNCTION multicorn_validator(text[], oid)
RETURNS bool
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

COMMENT ON FUNCTION multicorn_validator(text[], oid) IS 'multicorn option validator (the server needs a wrapper class)';

CREATE FOREIGN DATA WRAPPER multicorn
HANDLER multicorn_handler
VALIDATOR multicorn_validator;
