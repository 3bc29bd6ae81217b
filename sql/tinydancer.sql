-- Tiny Dancer in PostgreSQL: the multicorn extension, the routerd server, the tinydancer schema with
-- its foreign tables, and the SQL functions over them. Safe to run again (it replaces what it made).
--
--   psql -v target=127.0.0.1:50051 [-v timeout_ms=2000] [-v token=SECRET] -f sql/tinydancer.sql
--
-- Needs the multicorn extension (our bridge, fdw/bridge, or Multicorn2 3.x) and the Python packages
-- `fdw` and `routerd` importable by the backend (see README: multicorn.python_path).
\set ON_ERROR_STOP on
\if :{?target}
\else
  \set target '127.0.0.1:50051'
\endif
\if :{?timeout_ms}
\else
  \set timeout_ms 2000
\endif

CREATE EXTENSION IF NOT EXISTS multicorn;

DROP SCHEMA IF EXISTS tinydancer CASCADE;
DROP SERVER IF EXISTS routerd CASCADE;
CREATE SERVER routerd FOREIGN DATA WRAPPER multicorn
    OPTIONS (wrapper 'fdw.TinyDancer', target :'target', timeout_ms :'timeout_ms');
COMMENT ON SERVER routerd IS 'Tiny Dancer routerd (gRPC); every call made through it has a deadline of timeout_ms';
\if :{?token}
CREATE USER MAPPING FOR PUBLIC SERVER routerd OPTIONS (token :'token');
\endif

CREATE SCHEMA tinydancer;
COMMENT ON SCHEMA tinydancer IS 'Tiny Dancer: agents, routing decisions, outcomes and statistics, forwarded to routerd';
IMPORT FOREIGN SCHEMA tinydancer FROM SERVER routerd INTO tinydancer;

-- A multi-dimensional array reaches the foreign tables flattened ('{{a,b},{c,d}}' as {a,b,c,d}, on our
-- bridge and on Multicorn2 alike), so where a flat list is meant, a 2-D one is an ERROR here, before
-- the FDW sees it. (A WHERE condition on tinydancer.decisions with a 2-D array matches no row: its
-- flattened echo fails PostgreSQL's recheck.)
CREATE FUNCTION tinydancer._flat(what text, a anyarray) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF array_ndims(a) > 1 THEN
        RAISE EXCEPTION '%: expected a one-dimensional array, not % dimensions', what, array_ndims(a)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give a flat array such as ARRAY[''coding'', ''reasoning''] (multi-dimensional arrays would be flattened).';
    END IF;
END
$$;
COMMENT ON FUNCTION tinydancer._flat(text, anyarray) IS 'Internal: ERROR unless the array has at most one dimension';

CREATE FUNCTION tinydancer._agents_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tinydancer._flat('column capabilities', NEW.capabilities);
    RETURN NEW;
END
$$;
CREATE TRIGGER flat_arrays BEFORE INSERT OR UPDATE ON tinydancer.agents
    FOR EACH ROW EXECUTE FUNCTION tinydancer._agents_check();

-- Route one request. NULL constraints are not applied.
CREATE FUNCTION tinydancer.route(
    request text,
    optimize_for text DEFAULT 'balanced',
    required_capabilities text[] DEFAULT NULL,
    max_cost float8 DEFAULT NULL,
    max_latency_ms float8 DEFAULT NULL,
    min_quality float8 DEFAULT NULL,
    budget_remaining float8 DEFAULT NULL)
RETURNS SETOF tinydancer.decisions
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    q text := 'SELECT * FROM tinydancer.decisions WHERE request = $1 AND optimize_for = $2';
BEGIN
    IF request IS NULL THEN
        RAISE EXCEPTION 'tinydancer.route: request must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the text of the request to route.';
    END IF;
    PERFORM tinydancer._flat('tinydancer.route: required_capabilities', required_capabilities);
    -- Only the constraints given become quals: `col = NULL` would match nothing.
    IF required_capabilities IS NOT NULL THEN q := q || ' AND required_capabilities = $3'; END IF;
    IF max_cost IS NOT NULL THEN q := q || ' AND max_cost = $4'; END IF;
    IF max_latency_ms IS NOT NULL THEN q := q || ' AND max_latency_ms = $5'; END IF;
    IF min_quality IS NOT NULL THEN q := q || ' AND min_quality = $6'; END IF;
    IF budget_remaining IS NOT NULL THEN q := q || ' AND budget_remaining = $7'; END IF;
    RETURN QUERY EXECUTE q USING request, coalesce(optimize_for, 'balanced'), required_capabilities,
        max_cost, max_latency_ms, min_quality, budget_remaining;
END
$$;
COMMENT ON FUNCTION tinydancer.route(text, text, text[], float8, float8, float8, float8)
    IS 'Route one request to the best feasible agent (a row with routed = false says why when none is)';

-- Route many requests in one statement, in the order given (duplicates and NULLs routed once / not
-- at all): one BatchRoute call per 5,000 distinct texts. The texts are staged in this backend by one
-- INSERT into tinydancer.batches and routed by a scan of tinydancer.decisions WHERE batch = handle,
-- so the time is linear in the number of requests: `request = ANY(array)` is rechecked by PostgreSQL
-- on every returned row, and unless the array is a constant (a bound parameter is one) that recheck
-- is not hashed, so `WHERE request = ANY(ARRAY(SELECT ...))` takes time quadratic in its length.
CREATE FUNCTION tinydancer.route_batch(requests text[], optimize_for text DEFAULT 'balanced')
RETURNS SETOF tinydancer.decisions
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    h text;
    texts text[];
BEGIN
    IF requests IS NULL THEN
        RAISE EXCEPTION 'tinydancer.route_batch: requests must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass an array of texts: route_batch(ARRAY[''a'', ''b'']) or route_batch(ARRAY(SELECT body FROM requests)).';
    END IF;
    PERFORM tinydancer._flat('tinydancer.route_batch: requests', requests);
    -- the distinct texts in the order of their first appearance (hashed: linear)
    texts := ARRAY(SELECT t FROM (SELECT t, min(i) AS first FROM unnest(requests) WITH ORDINALITY u(t, i)
                                  WHERE t IS NOT NULL GROUP BY t) d ORDER BY first);
    IF cardinality(texts) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO tinydancer.batches (requests, optimize_for)
    VALUES (texts, coalesce(route_batch.optimize_for, 'balanced'))
    RETURNING batches.handle INTO h;
    RETURN QUERY EXECUTE 'SELECT * FROM tinydancer.decisions WHERE batch = $1' USING h;
END
$$;
COMMENT ON FUNCTION tinydancer.route_batch(text[], text)
    IS 'Route an array of requests (distinct texts, in order) in BatchRoute calls of 5,000; linear in its length';

-- Route many requests WITH embeddings in one statement: one BatchRoute call per 5,000 requests.
-- `= ANY(array)` cannot carry an embedding per request (and PostgreSQL would recheck a huge array
-- qual on every row), so the arrays are staged by one INSERT into the write-only foreign table
-- tinydancer.batches, in this backend, under a fresh handle; the scan of tinydancer.decisions
-- WHERE batch = handle routes the staged batch and drops it. `embeddings` has one row per request
-- (a 2-D float4[], e.g. array_agg(embedding ORDER BY id)) and `requests` one text (or NULL) per
-- row, in the same order; `position` is the row's 1-based place in them. reasoning and alternatives
-- are computed only WITH with_reasons (they cost routerd more than the decision).
CREATE FUNCTION tinydancer.route_embedded(
    requests text[],
    embeddings float4[],
    optimize_for text DEFAULT 'balanced',
    required_capabilities text[] DEFAULT NULL,
    max_cost float8 DEFAULT NULL,
    max_latency_ms float8 DEFAULT NULL,
    min_quality float8 DEFAULT NULL,
    budget_remaining float8 DEFAULT NULL,
    excluded_agents text[] DEFAULT NULL,
    willingness_to_pay float8 DEFAULT NULL,
    with_reasons boolean DEFAULT false)
RETURNS TABLE ("position" integer, request text, decision_id text, agent_name text, routed boolean,
               confidence float8, estimated_cost float8, estimated_latency_ms float8, expected_quality float8,
               similarity float8, reasoning text, alternatives jsonb, model_version text,
               decided_at timestamptz)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    h text;
BEGIN
    IF route_embedded.requests IS NULL THEN
        RAISE EXCEPTION 'tinydancer.route_embedded: requests must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass one text (or NULL) per embedding: array_agg(body ORDER BY id).';
    END IF;
    PERFORM tinydancer._flat('tinydancer.route_embedded: requests', route_embedded.requests);
    PERFORM tinydancer._flat('tinydancer.route_embedded: required_capabilities', route_embedded.required_capabilities);
    PERFORM tinydancer._flat('tinydancer.route_embedded: excluded_agents', route_embedded.excluded_agents);
    IF cardinality(route_embedded.requests) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO tinydancer.batches (requests, embeddings, optimize_for, required_capabilities, excluded_agents,
                                    max_cost, max_latency_ms, min_quality, budget_remaining, willingness_to_pay)
    VALUES (route_embedded.requests, route_embedded.embeddings, coalesce(route_embedded.optimize_for, 'balanced'),
            route_embedded.required_capabilities, route_embedded.excluded_agents, route_embedded.max_cost,
            route_embedded.max_latency_ms, route_embedded.min_quality, route_embedded.budget_remaining,
            route_embedded.willingness_to_pay)
    RETURNING batches.handle INTO h;
    RETURN QUERY EXECUTE
        'SELECT d.position, d.request, d.decision_id, d.agent_name, d.routed, d.confidence, d.estimated_cost, '
        'd.estimated_latency_ms, d.expected_quality, d.similarity, '
        || CASE WHEN with_reasons THEN 'd.reasoning, d.alternatives, ' ELSE 'NULL::text, NULL::jsonb, ' END
        || 'd.model_version, d.decided_at FROM tinydancer.decisions d WHERE d.batch = $1'
        USING h;
END
$$;
COMMENT ON FUNCTION tinydancer.route_embedded(text[], float4[], text, text[], float8, float8, float8, float8, text[],
                                              float8, boolean)
    IS 'Route requests with their embeddings (one row of a 2-D float4[] each) in BatchRoute calls of 5,000; '
       'one row per request, in order, with its 1-based position';

-- Record what happened after a decision (or, with decision_id NULL, to a named agent).
CREATE FUNCTION tinydancer.record_outcome(
    decision_id text,
    latency_ms float8,
    success boolean DEFAULT true,
    quality float8 DEFAULT NULL,
    cost float8 DEFAULT NULL,
    input_tokens integer DEFAULT 0,
    output_tokens integer DEFAULT 0,
    agent_name text DEFAULT NULL)
RETURNS tinydancer.outcomes
LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$
    INSERT INTO tinydancer.outcomes (decision_id, agent_name, latency_ms, success, quality, cost,
                                     input_tokens, output_tokens)
    VALUES (decision_id, agent_name, latency_ms, success, quality, cost, input_tokens, output_tokens)
    RETURNING *
$$;
COMMENT ON FUNCTION tinydancer.record_outcome(text, float8, boolean, float8, float8, integer, integer, text)
    IS 'Record the outcome of a decision: latency, success, quality, cost, tokens';

-- ---------------------------------------------------------------------------------------------
-- Routing by meaning (issue 9): embeddings, semantic routes, classification
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION tinydancer._routes_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tinydancer._flat('column utterances', NEW.utterances);
    PERFORM tinydancer._flat('column user_tiers', NEW.user_tiers);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION tinydancer._routes_check() IS 'Internal: utterances and user_tiers of a route are flat arrays';
CREATE TRIGGER flat_arrays BEFORE INSERT OR UPDATE ON tinydancer.routes
    FOR EACH ROW EXECUTE FUNCTION tinydancer._routes_check();

-- The embedding of one text by routerd's embedder (unit length; 384 dimensions by default).
CREATE FUNCTION tinydancer.embed(text text) RETURNS float4[]
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    result float4[];
BEGIN
    IF embed.text IS NULL THEN
        RAISE EXCEPTION 'tinydancer.embed: text must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the text to embed.';
    END IF;
    SELECT e.embedding INTO result FROM tinydancer.embeddings e WHERE e.text = embed.text;
    RETURN result;
END
$$;
COMMENT ON FUNCTION tinydancer.embed(text)
    IS 'The embedding of a text by routerd''s embedder, as float4[] (unit length; tinydancer.embeddings also gives '
       'the embedder''s name and dimension)';

-- The semantic routes a request matches, best first: no row when nothing clears its threshold (out
-- of scope). user_tier is checked against the routes' user_tiers.
CREATE FUNCTION tinydancer.semantic_route(query text, top_k integer DEFAULT 3, user_tier text DEFAULT NULL)
RETURNS TABLE (route_name text, similarity float8, confidence float8, target_agent text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
    IF semantic_route.query IS NULL THEN
        RAISE EXCEPTION 'tinydancer.semantic_route: query must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the text of the request to match.';
    END IF;
    IF semantic_route.top_k IS NULL THEN
        RAISE EXCEPTION 'tinydancer.semantic_route: top_k must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'top_k is 1..100 (default 3).';
    END IF;
    IF semantic_route.user_tier IS NULL THEN
        RETURN QUERY
            SELECT m.route_name, m.similarity, m.confidence, m.target_agent FROM tinydancer.semantic_matches m
             WHERE m.query = semantic_route.query AND m.top_k = semantic_route.top_k
             ORDER BY m.rank;
    ELSE
        RETURN QUERY
            SELECT m.route_name, m.similarity, m.confidence, m.target_agent FROM tinydancer.semantic_matches m
             WHERE m.query = semantic_route.query AND m.top_k = semantic_route.top_k
               AND m.user_tier = semantic_route.user_tier
             ORDER BY m.rank;
    END IF;
END
$$;
COMMENT ON FUNCTION tinydancer.semantic_route(text, integer, text)
    IS 'The top_k semantic routes a request matches, best first, with similarity and a calibrated confidence; '
       'no row when it is out of scope';

-- The rows of tinydancer.classifications for one text (see fdw/tables/classifications.py): kinds route,
-- group, out_of_scope and capability. NULL top_k is routerd's default (10 categories).
CREATE FUNCTION tinydancer.classifications_of(text text, top_k integer DEFAULT NULL)
RETURNS SETOF tinydancer.classifications
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
    IF classifications_of.text IS NULL THEN
        RAISE EXCEPTION 'tinydancer.classify: text must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the text of the request to classify.';
    END IF;
    IF classifications_of.top_k IS NULL THEN  -- `top_k = NULL` would match nothing
        RETURN QUERY SELECT * FROM tinydancer.classifications c WHERE c.text = classifications_of.text;
    ELSE
        RETURN QUERY SELECT * FROM tinydancer.classifications c
                      WHERE c.text = classifications_of.text AND c.top_k = classifications_of.top_k;
    END IF;
END
$$;
COMMENT ON FUNCTION tinydancer.classifications_of(text, integer)
    IS 'The classifier''s rows for a text: routes, groups, out_of_scope and capabilities, each with a probability';

-- What the classifier says about a text, as jsonb:
--   {"top_category": route or null (out of scope is likelier), "confidence": its probability (or out of scope's),
--    "out_of_scope_probability": p,
--    "categories": [{"name", "kind": "route" | "group", "probability"}, ...] (routes, then groups),
--    "capabilities": [{"name", "probability"}, ...] (capabilities of routes' target agents, multi-label)}
CREATE FUNCTION tinydancer.classify(text text, top_k integer DEFAULT NULL) RETURNS jsonb
LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$
    SELECT jsonb_build_object(
               'top_category', min(c.top_category),
               'confidence', min(c.confidence),
               'out_of_scope_probability', min(c.probability) FILTER (WHERE c.kind = 'out_of_scope'),
               'categories', coalesce(jsonb_agg(jsonb_build_object('name', c.category, 'kind', c.kind,
                                                                   'probability', c.probability)
                                                ORDER BY c.kind = 'group', c.rank)
                                      FILTER (WHERE c.kind IN ('route', 'group')), '[]'),
               'capabilities', coalesce(jsonb_agg(jsonb_build_object('name', c.category, 'probability', c.probability)
                                                  ORDER BY c.rank)
                                        FILTER (WHERE c.kind = 'capability'), '[]'))
      FROM tinydancer.classifications_of($1, $2) c
$$;
COMMENT ON FUNCTION tinydancer.classify(text, integer)
    IS 'Classify a request: top_category, confidence, out_of_scope_probability, categories (routes and groups with '
       'probabilities, at most top_k) and the capabilities it needs (each with a probability), as jsonb';

-- ---------------------------------------------------------------------------------------------
-- The learned quality model (issue 10): its versions, training from the outcome log, promote, rollback
-- ---------------------------------------------------------------------------------------------
-- tinydancer.model is one row per version (read-only; WHERE version = N and WHERE live ask routerd for
-- that one version). Every change goes through the write-only foreign table tinydancer.model_actions:
-- one INSERT is one call to routerd (with the server's deadline, timeout_ms), its RETURNING the result
-- (fdw/tables/model.py). A write rather than a scan, so it runs exactly once, is refused in read-only
-- transactions, and its INSERT privilege says who may change the model (sql/roles.sql).
COMMENT ON FOREIGN TABLE tinydancer.model
    IS 'Versions of the learned quality model (FastGRNN), one row each: status, live, held-out metrics (jsonb), '
       'lineage and times; training is true for the version routerd is training now';
COMMENT ON FOREIGN TABLE tinydancer.model_actions
    IS 'Write-only: INSERT (action, ...) RETURNING * trains (''train'', detached), promotes (''promote'', version) '
       'or rolls back (''rollback'') the learned model';

-- Train a new version from routerd's outcome log (the outcomes that name a logged decision), DETACHED:
-- routerd answers at once with the new version's number and trains in the background, so no SQL
-- statement waits for a training (a query cancel cannot interrupt the wait). Poll tinydancer.model
-- until the version's status is final: 'live' (better on the held-out decisions, promoted), 'rejected'
-- (not better than what was live; the live model stays), or 'failed' (reason says why, e.g. too few
-- outcomes). One training runs at a time: a second one is an ERROR while the first runs.
-- holdout_fraction: the share of the most recent decisions held out (NULL: routerd's 0.2).
CREATE FUNCTION tinydancer.train_model(holdout_fraction float8 DEFAULT NULL, seed bigint DEFAULT 0)
RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$
    INSERT INTO tinydancer.model_actions (action, holdout_fraction, seed) VALUES ('train', $1, coalesce($2, 0))
    RETURNING version
$$;
COMMENT ON FUNCTION tinydancer.train_model(float8, bigint)
    IS 'Start training a model version from the outcome log (detached); returns its version at once: poll '
       'tinydancer.model until its status is final. Training from a routing dataset is not offered in SQL: the '
       'dataset is a file on the client (routerd train --dataset FILE)';

-- Serve a trained version (any status but training and failed); returns its tinydancer.model row.
CREATE FUNCTION tinydancer.promote_model(version bigint) RETURNS tinydancer.model
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    result tinydancer.model;
BEGIN
    IF promote_model.version IS NULL THEN
        RAISE EXCEPTION 'tinydancer.promote_model: version must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass a model version: SELECT version, status FROM tinydancer.model lists them.';
    END IF;
    INSERT INTO tinydancer.model_actions (action, version) VALUES ('promote', promote_model.version);
    SELECT * INTO result FROM tinydancer.model m WHERE m.version = promote_model.version;
    RETURN result;
END
$$;
COMMENT ON FUNCTION tinydancer.promote_model(bigint)
    IS 'Make a trained model version the live one (routing uses it at once); returns its tinydancer.model row';

-- Serve the version promoted before the live one (the live one becomes rolled_back); returns the
-- version live afterwards, NULL when none is (routing then uses each agent's observed quality).
CREATE FUNCTION tinydancer.rollback_model() RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$
    INSERT INTO tinydancer.model_actions (action) VALUES ('rollback') RETURNING version
$$;
COMMENT ON FUNCTION tinydancer.rollback_model()
    IS 'Roll the learned model back to the version promoted before the live one; returns the version live '
       'afterwards, NULL when none is';

-- ---------------------------------------------------------------------------------------------
-- Budgets, analytics, several agents (issue 11)
-- ---------------------------------------------------------------------------------------------
-- The foreign tables come from IMPORT FOREIGN SCHEMA above; their columns are documented in
-- fdw/tables/budgets.py, analytics.py and multi.py. A budget's window is the column `period`
-- (WINDOW is reserved in SQL), a rolling one's length `period_seconds`.
COMMENT ON FOREIGN TABLE tinydancer.budgets
    IS 'Spending limits, one row per budget (name is the key): amount USD per period (day, week, month, total or '
       'rolling period_seconds) over a scope (global, agent:<name>, tag:<tag>), hard or soft; SELECT INSERT UPDATE DELETE';
COMMENT ON FOREIGN TABLE tinydancer.spend
    IS 'Each budget''s current period: settled (outcomes'' costs), reserved (estimates awaiting an outcome), '
       'unreconciled (estimates past the reservation TTL) and remaining = amount - the three; read-only';
COMMENT ON FOREIGN TABLE tinydancer.decision_cancellations
    IS 'Write-only: INSERT (decision_id) RETURNING * cancels a decision whose request was never sent, releasing its '
       'budget reservations (released jsonb); see tinydancer.cancel_decision';
COMMENT ON FOREIGN TABLE tinydancer.analytics
    IS 'Virtual: aggregates of the decisions made in [since, until) and their outcomes, one row per group; inputs '
       'group_by (agent, day, hour, route, objective, tag), since, until, given with =';
COMMENT ON FOREIGN TABLE tinydancer.decision_log
    IS 'The decisions routerd logged, oldest first (decided_at ranges are pushed down); read-only';
COMMENT ON FOREIGN TABLE tinydancer.route_multi
    IS 'Virtual: several agents for one request (strategy pipeline, parallel or ensemble; num_agents), one row per '
       'stage with the plan''s totals; inputs as tinydancer.decisions plus num_agents and strategy';
COMMENT ON FOREIGN TABLE tinydancer.budget_plan
    IS 'Virtual: the willingness to pay whose routing spends budget over period_days on the recent request mix, one '
       'row per agent''s allocation with the plan''s totals; apply_to_budget stores it on a budget';
COMMENT ON FOREIGN TABLE tinydancer.batch_routes
    IS 'Virtual: an array of requests routed in one BatchRoute call under a batch budget (batch_objective in_order or '
       'total_cost), one row per request in order with the batch''s totals';
COMMENT ON COLUMN tinydancer.decisions.tags
    IS 'Input: tags the request is charged under (budgets scoped tag:<t>) and grouped by in analytics';
COMMENT ON COLUMN tinydancer.decisions.charges
    IS 'What the decision reserved against budgets: jsonb [{"budget": name, "amount": USD}, ...]';

-- Cancel a decision whose request was never sent: its budget reservations are released (the rows of
-- `released`) and an outcome recorded for it later is refused. One INSERT into the write-only
-- tinydancer.decision_cancellations, so it runs exactly once and is refused in a read-only
-- transaction. Cancelling twice is not an error: already_cancelled says so. A decision with an
-- outcome cannot be cancelled (its cost is settled, not reserved): an ERROR with a HINT.
CREATE FUNCTION tinydancer.cancel_decision(decision_id text) RETURNS tinydancer.decision_cancellations
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    result tinydancer.decision_cancellations;
BEGIN
    IF cancel_decision.decision_id IS NULL THEN
        RAISE EXCEPTION 'tinydancer.cancel_decision: decision_id must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the decision_id a routing decision returned (tinydancer.decisions.decision_id).';
    END IF;
    INSERT INTO tinydancer.decision_cancellations (decision_id) VALUES (cancel_decision.decision_id)
    RETURNING * INTO result;
    RETURN result;
END
$$;
COMMENT ON FUNCTION tinydancer.cancel_decision(text)
    IS 'Cancel a decision whose request was never sent: release its budget reservations (released jsonb); '
       'already_cancelled when it was cancelled before';
