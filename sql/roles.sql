-- Least privilege for Tiny Dancer: two group roles, and where each option of the routerd server may live.
-- Runs after sql/tinydancer.sql (which recreates the schema, so every grant here is applied again) and
-- is safe to run again: roles are cluster-wide and created only when missing.
--
--   tinydancer_reader   read agents, decisions (route: tinydancer.route, route_batch, route_embedded),
--                       capability matches and statistics; read semantic routes, match and classify
--                       requests and embed texts (routes, semantic_matches, classifications, embeddings;
--                       tinydancer.semantic_route, classify, embed); the ruvector_* read functions
--   tinydancer_writer   tinydancer_reader, plus agent writes (INSERT/UPDATE/DELETE tinydancer.agents),
--                       route writes (INSERT/UPDATE/DELETE tinydancer.routes, ruvector_create_route) and
--                       outcomes (INSERT/SELECT tinydancer.outcomes, tinydancer.record_outcome, the
--                       ruvector_* write functions); the learned model's changes (INSERT tinydancer.model_actions:
--                       tinydancer.train_model, promote_model, rollback_model), while reading its versions
--                       (tinydancer.model) is the reader's; budget writes, cancellations
--                       (tinydancer.cancel_decision) and the budget plan (ruvector_optimize_budget), while
--                       budgets, spend, analytics, the decision log, route_multi and batch_routes are read
--                       by the reader
--
-- Give them to login roles: GRANT tinydancer_reader TO analyst; (README: "Roles and privileges").
-- Table privileges are the boundary: every function here runs with its caller's rights, so a function
-- a role may execute still fails on a table the role may not touch.
--
-- The event trigger at the end rejects a misplaced option of a tinydancer server (fdw.TinyDancer) at
-- CREATE/ALTER time: the token only in a user mapping, target/timeout_ms/tls_ca only on the server,
-- resource only on a foreign table (fdw/options.py OPTIONS says the same; a test holds them equal).
\set ON_ERROR_STOP on

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tinydancer_reader') THEN
        CREATE ROLE tinydancer_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tinydancer_writer') THEN
        CREATE ROLE tinydancer_writer NOLOGIN;
    END IF;
    IF NOT pg_has_role('tinydancer_writer', 'tinydancer_reader', 'MEMBER') THEN
        GRANT tinydancer_reader TO tinydancer_writer;
    END IF;
END
$$;
COMMENT ON ROLE tinydancer_reader IS 'Tiny Dancer: read agents and routes, route, match and classify requests, read capability matches and statistics';
COMMENT ON ROLE tinydancer_writer IS 'Tiny Dancer: tinydancer_reader plus agent and route writes and outcomes';

-- Nothing for PUBLIC: functions are executable by PUBLIC unless revoked.
REVOKE ALL ON SCHEMA tinydancer FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA tinydancer FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tinydancer FROM PUBLIC;
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
                                            AND (p.proname LIKE 'ruvector\_%' OR p.proname LIKE '\_ruvector\_%')
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;

-- tinydancer_reader. tinydancer.batches is a staging table in the session's backend (route_batch and
-- route_embedded INSERT the arrays they route there, RETURNING the handle); it writes nothing to routerd.
GRANT USAGE ON SCHEMA tinydancer TO tinydancer_reader;
GRANT SELECT ON tinydancer.agents, tinydancer.decisions, tinydancer.capability_matches, tinydancer.stats,
                tinydancer.routes, tinydancer.semantic_matches, tinydancer.classifications, tinydancer.embeddings
    TO tinydancer_reader;
GRANT INSERT, SELECT (handle) ON tinydancer.batches TO tinydancer_reader;
GRANT SELECT ON tinydancer.model TO tinydancer_reader;
-- Money: budgets and their spend, analytics, the decision log, several agents per request, batch routing.
GRANT SELECT ON tinydancer.budgets, tinydancer.spend, tinydancer.analytics, tinydancer.decision_log,
                tinydancer.route_multi, tinydancer.batch_routes
    TO tinydancer_reader;

-- tinydancer_writer (and, through membership, everything above)
GRANT INSERT, UPDATE, DELETE ON tinydancer.agents, tinydancer.routes TO tinydancer_writer;
GRANT SELECT, INSERT ON tinydancer.outcomes TO tinydancer_writer;
-- The learned model: train, promote and roll back are INSERTs into the write-only tinydancer.model_actions
-- (RETURNING needs SELECT; a SELECT of it is an ERROR, it stores nothing).
GRANT INSERT, SELECT ON tinydancer.model_actions TO tinydancer_writer;
-- Budgets are written by writers; so is a cancellation (write-only, like model_actions). The budget
-- plan is the writers' too: its apply_to_budget input changes how a budget's requests are routed.
GRANT INSERT, UPDATE, DELETE ON tinydancer.budgets TO tinydancer_writer;
GRANT INSERT, SELECT ON tinydancer.decision_cancellations TO tinydancer_writer;
GRANT SELECT ON tinydancer.budget_plan TO tinydancer_writer;

-- Functions: the writers' by name, every other one (the routing and read functions, and the internal
-- helpers they call) to the readers.
DO $$
DECLARE
    writes constant text[] := ARRAY['record_outcome', 'ruvector_register_agent', 'ruvector_register_agent_full',
                                    'ruvector_update_agent_metrics', 'ruvector_remove_agent',
                                    'ruvector_set_agent_active', 'ruvector_clear_agents', 'ruvector_create_route',
                                    'train_model', 'promote_model', 'rollback_model', 'cancel_decision',
                                    'ruvector_optimize_budget'];
    f record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS sig, p.proname = ANY(writes) AS writes
             FROM pg_proc p
             WHERE p.prokind = 'f' AND p.prorettype <> 'event_trigger'::regtype
               AND (p.pronamespace = 'tinydancer'::regnamespace
                    OR (p.pronamespace = 'public'::regnamespace
                        AND (p.proname LIKE 'ruvector\_%' OR p.proname LIKE '\_ruvector\_%')))
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f.sig,
                       CASE WHEN f.writes THEN 'tinydancer_writer' ELSE 'tinydancer_reader' END);
    END LOOP;
END
$$;

-- Where each option of a tinydancer server belongs (fdw/options.py OPTIONS, plus multicorn's wrapper).
CREATE OR REPLACE FUNCTION tinydancer._option_places() RETURNS TABLE (name text, place text)
LANGUAGE sql IMMUTABLE AS $$
    VALUES ('wrapper', 'server'), ('target', 'server'), ('timeout_ms', 'server'), ('tls_ca', 'server'),
           ('resource', 'table'), ('token', 'user mapping')
$$;
COMMENT ON FUNCTION tinydancer._option_places() IS 'Internal: the one place each tinydancer option may be set';

-- A server whose wrapper is the tinydancer FDW (fdw.TinyDancer, or the class under fdw.tables).
CREATE OR REPLACE FUNCTION tinydancer._is_tinydancer_server(srvoptions text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT EXISTS (SELECT FROM pg_catalog.pg_options_to_table(srvoptions)
                   WHERE option_name = 'wrapper' AND option_value ~ '^fdw(\.tables)?\.TinyDancer$')
$$;
COMMENT ON FUNCTION tinydancer._is_tinydancer_server(text[]) IS 'Internal: true for the options of a server of fdw.TinyDancer';

-- ERROR unless every known option in `options` (of a server, table or user mapping of a tinydancer
-- server) is in its place.
CREATE OR REPLACE FUNCTION tinydancer._check_option_places(options text[], place text, server name) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o record;
    phrase constant jsonb := '{"server": "the server", "table": "a foreign table",
                               "user mapping": "a user mapping"}';
    why constant jsonb := '{
        "token": "Server and table options are readable by every role (pg_foreign_server, pg_foreign_table); user-mapping options only by the mapped user and the server''s owner.",
        "target": "A user mapping must not redirect the FDW: only the server''s owner chooses where it connects.",
        "timeout_ms": "Only the server''s owner bounds how long the FDW waits for routerd.",
        "tls_ca": "Only the server''s owner chooses which certificate authority (a file on the database host) the FDW trusts.",
        "resource": "Each foreign table names the resource it serves.",
        "wrapper": "Multicorn''s wrapper class is set on the server only."}';
    how constant jsonb := '{
        "server": "ALTER SERVER %s OPTIONS (ADD %s ''...'') (as the server''s owner)",
        "table": "ALTER FOREIGN TABLE ... OPTIONS (ADD %2$s ''...'')",
        "user mapping": "CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (%s ''...'')"}';
BEGIN
    FOR o IN SELECT t.option_name, p.place AS belongs
             FROM pg_options_to_table(options) t JOIN tinydancer._option_places() p ON p.name = t.option_name
             WHERE p.place <> _check_option_places.place
    LOOP
        RAISE EXCEPTION 'the option "%" cannot be set on % (server %): it belongs to %', o.option_name,
                phrase->>place, server, phrase->>o.belongs
            USING ERRCODE = 'fdw_invalid_option_name',
                  HINT = format('%s Set it on %s instead: %s.', why->>o.option_name, phrase->>o.belongs,
                                format(how->>o.belongs, quote_ident(server), o.option_name));
    END LOOP;
END
$$;
COMMENT ON FUNCTION tinydancer._check_option_places(text[], text, name)
    IS 'Internal: ERROR unless every tinydancer option given is in its own place (server, table, user mapping)';

-- The options a DDL command left on a tinydancer server, its user mappings and its foreign tables.
-- SECURITY DEFINER: pg_user_mapping (the mappings' options) is readable by superusers only.
CREATE OR REPLACE FUNCTION tinydancer._option_places_trigger() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT * FROM pg_event_trigger_ddl_commands()
             WHERE object_type IN ('server', 'user mapping', 'foreign table')
    LOOP
        PERFORM tinydancer._check_option_places(o.options, o.place, o.srvname)
        FROM (SELECT s.srvoptions AS options, 'server' AS place, s.srvname FROM pg_foreign_server s
              WHERE c.classid = 'pg_foreign_server'::regclass AND s.oid = c.objid
              UNION ALL
              SELECT u.umoptions, 'user mapping', s.srvname FROM pg_user_mapping u
              JOIN pg_foreign_server s ON s.oid = u.umserver
              WHERE c.classid = 'pg_user_mapping'::regclass AND u.oid = c.objid
              UNION ALL
              SELECT t.ftoptions, 'table', s.srvname FROM pg_foreign_table t
              JOIN pg_foreign_server s ON s.oid = t.ftserver
              WHERE c.classid = 'pg_class'::regclass AND t.ftrelid = c.objid) o
        JOIN pg_foreign_server s ON s.srvname = o.srvname
        WHERE tinydancer._is_tinydancer_server(s.srvoptions);
    END LOOP;
END
$$;
COMMENT ON FUNCTION tinydancer._option_places_trigger()
    IS 'Internal: the event trigger that keeps tinydancer options in their place (token in user mappings only)';
REVOKE ALL ON FUNCTION tinydancer._option_places_trigger() FROM PUBLIC;

-- DROP SCHEMA tinydancer CASCADE (sql/tinydancer.sql) drops the trigger with its function.
DROP EVENT TRIGGER IF EXISTS tinydancer_option_places;
CREATE EVENT TRIGGER tinydancer_option_places ON ddl_command_end
    WHEN TAG IN ('CREATE SERVER', 'ALTER SERVER', 'CREATE USER MAPPING', 'ALTER USER MAPPING',
                 'CREATE FOREIGN TABLE', 'ALTER FOREIGN TABLE', 'IMPORT FOREIGN SCHEMA')
    EXECUTE FUNCTION tinydancer._option_places_trigger();
COMMENT ON EVENT TRIGGER tinydancer_option_places
    IS 'Tiny Dancer: the token only in user mappings; target, timeout_ms and tls_ca only on the server';

-- What was there before this trigger existed (other tinydancer servers, their mappings and tables).
DO $$
BEGIN
    PERFORM tinydancer._check_option_places(o.options, o.place, s.srvname)
    FROM pg_foreign_server s,
         LATERAL (SELECT s.srvoptions AS options, 'server' AS place
                  UNION ALL SELECT u.umoptions, 'user mapping' FROM pg_user_mapping u WHERE u.umserver = s.oid
                  UNION ALL SELECT t.ftoptions, 'table' FROM pg_foreign_table t WHERE t.ftserver = s.oid) o
    WHERE tinydancer._is_tinydancer_server(s.srvoptions);
END
$$;
