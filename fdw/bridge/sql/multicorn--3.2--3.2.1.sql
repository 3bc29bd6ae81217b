/* multicorn--3.2--3.2.1.sql: the handler and the validator are no longer executable by PUBLIC.
 *
 * PostgreSQL calls both itself (CREATE/ALTER of servers, tables and user mappings, and planning),
 * without an EXECUTE check; called from SQL, the validator would import the Python module named by
 * a wrapper option.  CREATE EXTENSION multicorn installs 3.2 and then this script, so a new
 * database and one updated with ALTER EXTENSION multicorn UPDATE end up the same.  The validator
 * itself also refuses a direct call by a non-superuser (src/instance.c), whatever the grants.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION multicorn UPDATE TO '3.2.1'" to load this file. \quit

REVOKE ALL ON FUNCTION multicorn_handler() FROM PUBLIC;
REVOKE ALL ON FUNCTION multicorn_validator(text[], oid) FROM PUBLIC;
