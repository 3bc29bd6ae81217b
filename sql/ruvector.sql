-- The seed-compatible ruvector_* functions (seeds/tiny-dancer-implementation-summary.md and
-- seeds/tiny-dancer-integration-plan.md), as thin SQL over the tinydancer foreign tables.
--
-- Run AFTER sql/tinydancer.sql (it needs the tinydancer schema and its foreign tables):
--
--   psql -v target=127.0.0.1:50051 -f sql/tinydancer.sql -f sql/ruvector.sql
--
-- Safe to run again: every function is CREATE OR REPLACE. No signature below uses a tinydancer
-- type, and the bodies are plain strings, so re-running sql/tinydancer.sql (which drops and
-- recreates the tinydancer schema) leaves these functions in place and working.
--
-- Every function reaches routerd only through the tinydancer foreign tables, so all of them are
-- VOLATILE (they read or change a live service) and PARALLEL UNSAFE (they make network calls from
-- the backend). Where the seeds' prototype silently defaulted (an unknown objective became
-- "balanced", an unknown constraint key was ignored, a missing agent was skipped), these raise an
-- ERROR with a HINT instead.
\set ON_ERROR_STOP on

-- ---------------------------------------------------------------------------------------------
-- Internal helpers (not part of the seed API; the leading underscore says so)
-- ---------------------------------------------------------------------------------------------

-- A float8 from a JSON object's member: NULL when absent or JSON null, an ERROR when not a number.
CREATE OR REPLACE FUNCTION public._ruvector_json_float(obj jsonb, key text, context text)
RETURNS float8
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v jsonb := obj -> key;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) <> 'number' THEN
        RAISE EXCEPTION '%: "%" must be a number, not %', context, key, v
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Write {"%s": 0.5} (a JSON number).', key);
    END IF;
    RETURN (v #>> '{}')::float8;
END
$$;
COMMENT ON FUNCTION public._ruvector_json_float(jsonb, text, text)
    IS 'Internal: a JSON member as float8 (NULL when absent or null; ERROR when not a number)';

-- A text[] from a JSON object's member: NULL when absent or JSON null, an ERROR unless it is an
-- array of strings.
CREATE OR REPLACE FUNCTION public._ruvector_json_text_array(obj jsonb, key text, context text)
RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v jsonb := obj -> key;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) <> 'array'
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string') THEN
        RAISE EXCEPTION '%: "%" must be an array of strings, not %', context, key, v
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Write {"%s": ["a", "b"]}.', key);
    END IF;
    RETURN ARRAY(SELECT jsonb_array_elements_text(v));
END
$$;
COMMENT ON FUNCTION public._ruvector_json_text_array(jsonb, text, text)
    IS 'Internal: a JSON member as text[] (NULL when absent or null; ERROR unless an array of strings)';

-- ERROR when a JSON object has a key outside ``valid`` (or is not an object).
CREATE OR REPLACE FUNCTION public._ruvector_json_check_keys(obj jsonb, valid text[], context text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    unknown text[];
BEGIN
    IF obj IS NULL OR jsonb_typeof(obj) = 'null' THEN
        RETURN;
    END IF;
    IF jsonb_typeof(obj) <> 'object' THEN
        RAISE EXCEPTION '%: expected a JSON object, not %', context, obj
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Valid keys: ' || array_to_string(valid, ', ') || '.';
    END IF;
    SELECT array_agg(k ORDER BY k) INTO unknown
      FROM jsonb_object_keys(obj) AS k
     WHERE k <> ALL (valid);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION '%: unknown key%: %', context, CASE WHEN cardinality(unknown) > 1 THEN 's' ELSE '' END,
                array_to_string(unknown, ', ')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Valid keys: ' || array_to_string(valid, ', ') || '.';
    END IF;
END
$$;
COMMENT ON FUNCTION public._ruvector_json_check_keys(jsonb, text[], text)
    IS 'Internal: ERROR (with a HINT listing the valid keys) when a JSON object has an unknown key';

-- One routing decision through tinydancer.decisions. Only the inputs given become quals: a
-- `col = NULL` qual would match nothing, so NULL inputs are left out of the WHERE clause.
CREATE OR REPLACE FUNCTION public._ruvector_decide(
    request text,
    request_embedding float4[],
    optimize_for text,
    required_capabilities text[],
    excluded_agents text[],
    max_cost float8,
    max_latency_ms float8,
    min_quality float8,
    budget_remaining float8,
    willingness_to_pay float8)
RETURNS TABLE (decision_id text, agent_name text, routed boolean, confidence float8, estimated_cost float8,
               estimated_latency_ms float8, expected_quality float8, similarity float8, reasoning text,
               alternatives jsonb, model_version text, optimize_for_used text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    objective text := coalesce(optimize_for, 'balanced');
    q text := 'SELECT d.decision_id, d.agent_name, d.routed, d.confidence, d.estimated_cost, '
              'd.estimated_latency_ms, d.expected_quality, d.similarity, d.reasoning, d.alternatives, '
              'd.model_version, d.optimize_for FROM tinydancer.decisions d WHERE d.optimize_for = $3';
BEGIN
    IF request IS NULL AND request_embedding IS NULL THEN
        RAISE EXCEPTION 'ruvector_route: the request (text or embedding) must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the request text, or its 384-dimensional embedding as float4[].';
    END IF;
    IF request IS NOT NULL THEN q := q || ' AND d.request = $1'; END IF;
    IF request_embedding IS NOT NULL THEN q := q || ' AND d.request_embedding = $2'; END IF;
    IF cardinality(required_capabilities) > 0 THEN q := q || ' AND d.required_capabilities = $4'; END IF;
    IF cardinality(excluded_agents) > 0 THEN q := q || ' AND d.excluded_agents = $5'; END IF;
    IF max_cost IS NOT NULL THEN q := q || ' AND d.max_cost = $6'; END IF;
    IF max_latency_ms IS NOT NULL THEN q := q || ' AND d.max_latency_ms = $7'; END IF;
    IF min_quality IS NOT NULL THEN q := q || ' AND d.min_quality = $8'; END IF;
    IF budget_remaining IS NOT NULL THEN q := q || ' AND d.budget_remaining = $9'; END IF;
    IF willingness_to_pay IS NOT NULL THEN q := q || ' AND d.willingness_to_pay = $10'; END IF;
    RETURN QUERY EXECUTE q USING request, request_embedding, objective, required_capabilities, excluded_agents,
        max_cost, max_latency_ms, min_quality, budget_remaining, willingness_to_pay;
END
$$;
COMMENT ON FUNCTION public._ruvector_decide(text, float4[], text, text[], text[], float8, float8, float8, float8, float8)
    IS 'Internal: one routing decision from tinydancer.decisions; NULL inputs are not applied';

-- ---------------------------------------------------------------------------------------------
-- Agent management
-- ---------------------------------------------------------------------------------------------

-- The implementation summary's 6-argument positional form:
--   ruvector_register_agent(name, type, capabilities, cost, latency, quality)
-- (parameter names as in the seed's operators.rs). cost is the cost per request.
CREATE OR REPLACE FUNCTION public.ruvector_register_agent(
    name text,
    agent_type text,
    capabilities text[],
    cost_per_request float8,
    avg_latency_ms float8,
    quality_score float8)
RETURNS boolean
LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$
    INSERT INTO tinydancer.agents (name, agent_type, capabilities, cost_per_call, latency_prior_ms, quality_score)
    VALUES ($1, lower($2), coalesce($3, '{}'), $4, $5, $6);
    SELECT true;
$$;
COMMENT ON FUNCTION public.ruvector_register_agent(text, text, text[], float8, float8, float8)
    IS 'Register an agent (implementation-summary form): cost per request, expected latency (ms), quality prior 0..1. '
       'ERROR if the name is taken or a value is invalid; true otherwise';

-- The integration plan's named-argument form:
--   ruvector_register_agent(name := ..., agent_type := ..., capabilities := ...,
--       cost_per_1k_tokens := ... | cost_per_call := ..., avg_latency_ms := ..., quality_score := ...,
--       metadata := ...)
-- The plan's Rust signature puts the optional costs before the required latency and quality, which
-- PostgreSQL does not allow (parameters after a defaulted one need defaults), and a 6-float
-- positional prefix would make every 6-argument call ambiguous with the summary's form. So here
-- `metadata` comes 4th and everything after capabilities has a default; avg_latency_ms and
-- quality_score are still required (an ERROR names the missing one). Call it with named arguments.
CREATE OR REPLACE FUNCTION public.ruvector_register_agent(
    name text,
    agent_type text,
    capabilities text[],
    metadata jsonb DEFAULT NULL,
    cost_per_1k_tokens float8 DEFAULT NULL,
    cost_per_call float8 DEFAULT NULL,
    avg_latency_ms float8 DEFAULT NULL,
    quality_score float8 DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
    IF avg_latency_ms IS NULL OR quality_score IS NULL THEN
        RAISE EXCEPTION 'ruvector_register_agent: % is required',
                CASE WHEN avg_latency_ms IS NULL THEN 'avg_latency_ms' ELSE 'quality_score' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'ruvector_register_agent(name := ..., agent_type := ..., capabilities := ..., '
                         'cost_per_1k_tokens := ... or cost_per_call := ..., avg_latency_ms := ..., '
                         'quality_score := ..., metadata := ...)';
    END IF;
    IF metadata IS NOT NULL AND jsonb_typeof(metadata) <> 'object' THEN
        RAISE EXCEPTION 'ruvector_register_agent: metadata must be a JSON object, not %', metadata
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Write metadata := ''{"provider": "..."}''.';
    END IF;
    INSERT INTO tinydancer.agents (name, agent_type, capabilities, cost_per_1k_input_tokens,
                                   cost_per_1k_output_tokens, cost_per_call, latency_prior_ms, quality_score,
                                   metadata)
    VALUES (ruvector_register_agent.name, lower(ruvector_register_agent.agent_type),
            coalesce(ruvector_register_agent.capabilities, '{}'), cost_per_1k_tokens, cost_per_1k_tokens,
            ruvector_register_agent.cost_per_call, avg_latency_ms, ruvector_register_agent.quality_score,
            coalesce(ruvector_register_agent.metadata, '{}'));
    RETURN true;
END
$$;
COMMENT ON FUNCTION public.ruvector_register_agent(text, text, text[], jsonb, float8, float8, float8, float8)
    IS 'Register an agent (integration-plan form, named arguments): cost_per_1k_tokens prices input and output '
       'tokens, cost_per_call each call, avg_latency_ms is the expected latency, quality_score the prior. '
       'ERROR if the name is taken or a value is invalid; true otherwise';

-- Full configuration as JSON, in the seed's shape:
--   {"name": ..., "agent_type": ..., "capabilities": [...],
--    "cost_model": {"per_request" | "per_token" | "cost_per_1k_tokens" | ...},
--    "performance": {"avg_latency_ms": ..., "quality_score": ...}, "metadata": {...}, "is_active": ...}
-- Observed metrics (success_rate, total_requests, p95/p99 latency) cannot be declared: routerd
-- measures them from outcomes, so they are rejected rather than ignored.
CREATE OR REPLACE FUNCTION public.ruvector_register_agent_full(config jsonb)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    ctx constant text := 'ruvector_register_agent_full';
    cm jsonb;
    perf jsonb;
    observed text[];
    per_token float8;
    per_1k float8;
    per_1k_in float8;
    per_1k_out float8;
    per_call float8;
    per_second float8;
    active boolean;
BEGIN
    IF config IS NULL OR jsonb_typeof(config) <> 'object' THEN
        RAISE EXCEPTION '%: config must be a JSON object, not %', ctx, coalesce(config::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = '{"name": "gpt-4", "agent_type": "llm", "capabilities": ["coding"], '
                         '"cost_model": {"per_request": 0.03}, "performance": {"avg_latency_ms": 500, '
                         '"quality_score": 0.95}}';
    END IF;
    PERFORM public._ruvector_json_check_keys(config,
        ARRAY['name', 'agent_type', 'capabilities', 'cost_model', 'performance', 'metadata', 'active',
              'is_active'], ctx);
    IF jsonb_typeof(config -> 'name') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION '%: "name" (a string) is required', ctx USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF config ? 'agent_type' AND jsonb_typeof(config -> 'agent_type') <> 'string' THEN
        RAISE EXCEPTION '%: "agent_type" must be a string', ctx USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF config ? 'active' AND config ? 'is_active' THEN
        RAISE EXCEPTION '%: give "active" or "is_active", not both', ctx USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(coalesce(config -> 'active', config -> 'is_active')) NOT IN ('boolean', 'null') THEN
        RAISE EXCEPTION '%: "is_active" must be true or false', ctx USING ERRCODE = 'invalid_parameter_value';
    END IF;
    active := (coalesce(config -> 'active', config -> 'is_active') #>> '{}')::boolean;
    IF config ? 'metadata' AND jsonb_typeof(config -> 'metadata') NOT IN ('object', 'null') THEN
        RAISE EXCEPTION '%: "metadata" must be a JSON object', ctx USING ERRCODE = 'invalid_parameter_value';
    END IF;

    cm := config -> 'cost_model';
    PERFORM public._ruvector_json_check_keys(cm,
        ARRAY['per_request', 'cost_per_call', 'per_token', 'cost_per_1k_tokens', 'cost_per_1k_input_tokens',
              'cost_per_1k_output_tokens', 'per_second', 'cost_per_second'], ctx || ': cost_model');
    IF (cm ? 'per_request')::int + (cm ? 'cost_per_call')::int > 1
       OR (cm ? 'per_second')::int + (cm ? 'cost_per_second')::int > 1
       OR (cm ? 'per_token')::int + (cm ? 'cost_per_1k_tokens')::int > 1 THEN
        RAISE EXCEPTION '%: cost_model gives the same price twice', ctx
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'per_request and cost_per_call, per_second and cost_per_second, per_token and '
                         'cost_per_1k_tokens are the same price; give one of each pair.';
    END IF;
    per_call := coalesce(public._ruvector_json_float(cm, 'per_request', ctx || ': cost_model'),
                         public._ruvector_json_float(cm, 'cost_per_call', ctx || ': cost_model'));
    per_second := coalesce(public._ruvector_json_float(cm, 'per_second', ctx || ': cost_model'),
                           public._ruvector_json_float(cm, 'cost_per_second', ctx || ': cost_model'));
    per_token := public._ruvector_json_float(cm, 'per_token', ctx || ': cost_model');
    -- per token -> per 1k tokens in numeric, so 0.00006 becomes 0.06 and not 0.060000000000000005
    per_1k := coalesce((per_token::numeric * 1000)::float8,
                       public._ruvector_json_float(cm, 'cost_per_1k_tokens', ctx || ': cost_model'));
    per_1k_in := coalesce(public._ruvector_json_float(cm, 'cost_per_1k_input_tokens', ctx || ': cost_model'), per_1k);
    per_1k_out := coalesce(public._ruvector_json_float(cm, 'cost_per_1k_output_tokens', ctx || ': cost_model'), per_1k);

    perf := config -> 'performance';
    IF jsonb_typeof(perf) = 'object' THEN
        SELECT array_agg(k ORDER BY k) INTO observed FROM jsonb_object_keys(perf) AS k
         WHERE k IN ('success_rate', 'total_requests', 'p95_latency_ms', 'p99_latency_ms');
        IF observed IS NOT NULL THEN
            RAISE EXCEPTION '%: performance.% % observed by routerd and cannot be declared', ctx,
                    array_to_string(observed, ', performance.'),
                    CASE WHEN cardinality(observed) > 1 THEN 'are' ELSE 'is' END
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Leave them out; record outcomes with ruvector_update_agent_metrics() and routerd '
                             'computes them.';
        END IF;
    END IF;
    PERFORM public._ruvector_json_check_keys(perf, ARRAY['avg_latency_ms', 'quality_score'], ctx || ': performance');

    INSERT INTO tinydancer.agents (name, agent_type, capabilities, cost_per_1k_input_tokens,
                                   cost_per_1k_output_tokens, cost_per_call, cost_per_second, latency_prior_ms,
                                   quality_score, metadata, active)
    VALUES (config ->> 'name', lower(coalesce(config ->> 'agent_type', 'llm')),
            coalesce(public._ruvector_json_text_array(config, 'capabilities', ctx), '{}'),
            per_1k_in, per_1k_out, per_call, per_second,
            public._ruvector_json_float(perf, 'avg_latency_ms', ctx || ': performance'),
            public._ruvector_json_float(perf, 'quality_score', ctx || ': performance'),
            coalesce(nullif(config -> 'metadata', 'null'::jsonb), '{}'), active);
    RETURN true;
END
$$;
COMMENT ON FUNCTION public.ruvector_register_agent_full(jsonb)
    IS 'Register an agent from a JSON config (name, agent_type, capabilities, cost_model, performance, metadata, '
       'is_active); unknown keys and observed metrics are an ERROR; true otherwise';

-- Record one completed request of an agent: an outcome in routerd's log, which updates the
-- agent's success rate, latency percentiles, observed quality and health.
CREATE OR REPLACE FUNCTION public.ruvector_update_agent_metrics(
    name text,
    latency_ms float8,
    success boolean,
    quality float8 DEFAULT NULL)
RETURNS boolean
LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$
    INSERT INTO tinydancer.outcomes (agent_name, latency_ms, success, quality) VALUES ($1, $2, $3, $4);
    SELECT true;
$$;
COMMENT ON FUNCTION public.ruvector_update_agent_metrics(text, float8, boolean, float8)
    IS 'Record an outcome for an agent (latency ms, success, optional quality 0..1); ERROR for an unknown agent';

CREATE OR REPLACE FUNCTION public.ruvector_remove_agent(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM tinydancer.agents a WHERE a.name = ruvector_remove_agent.name;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RAISE EXCEPTION 'agent "%" not found', ruvector_remove_agent.name
            USING ERRCODE = 'no_data_found', HINT = 'SELECT name FROM ruvector_list_agents() lists the agents.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION public.ruvector_remove_agent(text)
    IS 'Remove an agent; ERROR if there is no agent of that name';

CREATE OR REPLACE FUNCTION public.ruvector_set_agent_active(name text, is_active boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    n bigint;
BEGIN
    IF is_active IS NULL THEN
        RAISE EXCEPTION 'ruvector_set_agent_active: is_active must be true or false, not NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE tinydancer.agents a SET active = ruvector_set_agent_active.is_active
     WHERE a.name = ruvector_set_agent_active.name;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RAISE EXCEPTION 'agent "%" not found', ruvector_set_agent_active.name
            USING ERRCODE = 'no_data_found', HINT = 'SELECT name FROM ruvector_list_agents() lists the agents.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION public.ruvector_set_agent_active(text, boolean)
    IS 'Activate or deactivate an agent (inactive agents are never routed to); ERROR for an unknown agent';

-- An agent as JSON: every column of tinydancer.agents, plus the seed's nested cost_model and
-- performance objects and its is_active. An unknown name is an ERROR, as in the seed's
-- implementation (its get returns Err("Agent 'x' not found") and its tests assert the error after
-- a removal) and like ruvector_remove_agent/ruvector_set_agent_active here.
CREATE OR REPLACE FUNCTION public.ruvector_get_agent(name text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    result jsonb;
BEGIN
    SELECT to_jsonb(a) || jsonb_build_object(
               'is_active', a.active,
               'cost_model', jsonb_build_object(
                   'per_request', a.cost_per_call,
                   'cost_per_1k_input_tokens', a.cost_per_1k_input_tokens,
                   'cost_per_1k_output_tokens', a.cost_per_1k_output_tokens,
                   'cost_per_second', a.cost_per_second),
               'performance', jsonb_build_object(
                   'avg_latency_ms', coalesce(a.avg_latency_ms, a.latency_prior_ms),
                   'p95_latency_ms', a.p95_latency_ms,
                   'p99_latency_ms', a.p99_latency_ms,
                   'quality_score', a.quality_score,
                   'success_rate', a.success_rate,
                   'total_requests', a.total_requests))
      INTO result
      FROM tinydancer.agents a
     WHERE a.name = ruvector_get_agent.name;
    IF result IS NULL THEN
        RAISE EXCEPTION 'agent "%" not found', ruvector_get_agent.name
            USING ERRCODE = 'no_data_found', HINT = 'SELECT name FROM ruvector_list_agents() lists the agents.';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION public.ruvector_get_agent(text)
    IS 'An agent as jsonb (its columns plus the seed''s cost_model, performance and is_active); ERROR if unknown';

-- The seed's columns first (name ... is_active), then what routerd adds. avg_latency_ms is the
-- observed mean once the agent has outcomes and its declared latency before (the seed registers it
-- as avg_latency_ms); success_rate is NULL until there is an outcome (nothing observed yet).
CREATE OR REPLACE FUNCTION public.ruvector_list_agents()
RETURNS TABLE (name text, agent_type text, capabilities text[], cost_per_request float8, avg_latency_ms float8,
               quality_score float8, success_rate float8, total_requests bigint, is_active boolean,
               cost_per_1k_input_tokens float8, cost_per_1k_output_tokens float8, p95_latency_ms float8,
               expected_quality float8, health text, metadata jsonb)
LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$
    SELECT a.name, a.agent_type, a.capabilities, a.cost_per_call, coalesce(a.avg_latency_ms, a.latency_prior_ms),
           a.quality_score, a.success_rate, a.total_requests, a.active, a.cost_per_1k_input_tokens,
           a.cost_per_1k_output_tokens, a.p95_latency_ms, a.expected_quality, a.health, a.metadata
      FROM tinydancer.agents a
     ORDER BY a.name
$$;
COMMENT ON FUNCTION public.ruvector_list_agents()
    IS 'Every agent: the seed''s columns (name, agent_type, capabilities, cost_per_request, avg_latency_ms, '
       'quality_score, success_rate, total_requests, is_active) then routerd''s extra ones';

-- Agents that declare the capability (exact match, as routing's required_capabilities), best
-- declared quality first. The seed's columns: name, quality_score, avg_latency_ms, cost_per_request.
CREATE OR REPLACE FUNCTION public.ruvector_find_agents_by_capability(capability text, "limit" integer DEFAULT 10)
RETURNS TABLE (name text, quality_score float8, avg_latency_ms float8, cost_per_request float8)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
    IF capability IS NULL OR btrim(capability) = '' THEN
        RAISE EXCEPTION 'ruvector_find_agents_by_capability: capability must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF "limit" IS NULL OR "limit" < 0 THEN
        RAISE EXCEPTION 'ruvector_find_agents_by_capability: limit must be >= 0, not %', coalesce("limit"::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Semantic: routerd embeds the capability text and ranks agents by similarity to theirs.
    RETURN QUERY
        SELECT m.name, m.quality_score, coalesce(m.avg_latency_ms, m.latency_prior_ms), m.cost_per_call
          FROM tinydancer.capability_matches m
         WHERE m.capability = ruvector_find_agents_by_capability.capability AND m.top_k = "limit"
           AND m.similarity >= 0.3  -- below this the hashing embedder's matches are chance collisions
         ORDER BY m.similarity DESC, m.quality_score DESC, m.name;
END
$$;
COMMENT ON FUNCTION public.ruvector_find_agents_by_capability(text, integer)
    IS 'Agents whose capabilities match the capability text (exactly, or by embedding similarity >= 0.3), best first, at most limit rows';

-- ---------------------------------------------------------------------------------------------
-- Routing
-- ---------------------------------------------------------------------------------------------

-- The implementation summary's form: an embedding (float4[], 384 dimensions), an objective, and
-- constraints as JSON. Returns the decision as jsonb with the seed's field names, plus
-- decision_id (to pass to tinydancer.record_outcome), routed and model_version. When nothing is
-- feasible: agent_name null, routed false, and reasoning/alternatives say why for each agent.
CREATE OR REPLACE FUNCTION public.ruvector_route(
    request_embedding float4[],
    optimize_for text DEFAULT 'balanced',
    constraints jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    ctx constant text := 'ruvector_route: constraints';
    d record;
BEGIN
    IF request_embedding IS NULL THEN
        RAISE EXCEPTION 'ruvector_route: request_embedding must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the request''s 384-dimensional embedding as float4[] '
                         '(or route its text: SELECT * FROM ruvector_route(request := ''...'')).';
    END IF;
    PERFORM public._ruvector_json_check_keys(constraints,
        ARRAY['required_capabilities', 'excluded_agents', 'max_cost', 'max_latency_ms', 'min_quality',
              'budget_remaining', 'willingness_to_pay'], ctx);
    SELECT * INTO d FROM public._ruvector_decide(
        NULL, request_embedding, optimize_for,
        public._ruvector_json_text_array(constraints, 'required_capabilities', ctx),
        public._ruvector_json_text_array(constraints, 'excluded_agents', ctx),
        public._ruvector_json_float(constraints, 'max_cost', ctx),
        public._ruvector_json_float(constraints, 'max_latency_ms', ctx),
        public._ruvector_json_float(constraints, 'min_quality', ctx),
        public._ruvector_json_float(constraints, 'budget_remaining', ctx),
        public._ruvector_json_float(constraints, 'willingness_to_pay', ctx));
    RETURN jsonb_build_object(
        'agent_name', d.agent_name,
        'routed', d.routed,
        'confidence', d.confidence,
        'estimated_cost', d.estimated_cost,
        'estimated_latency_ms', d.estimated_latency_ms,
        'expected_quality', d.expected_quality,
        'similarity_score', d.similarity,
        'reasoning', d.reasoning,
        'alternatives', d.alternatives,
        'decision_id', d.decision_id,
        'optimize_for', d.optimize_for_used,
        'model_version', d.model_version);
END
$$;
COMMENT ON FUNCTION public.ruvector_route(float4[], text, jsonb)
    IS 'Route a request given its embedding; constraints: required_capabilities, excluded_agents, max_cost, '
       'max_latency_ms, min_quality, budget_remaining, willingness_to_pay (unknown keys are an ERROR). '
       'Returns the decision as jsonb; routed = false (agent_name null) when no agent is feasible';

-- The integration plan's form: the request text with named constraints, as a table (its example
-- selects agent_name, confidence, estimated_cost and the estimated latency from it). Also takes
-- budget_remaining (used by the plan's "Auto-route with budget awareness" example), and
-- excluded_agents and willingness_to_pay (the other inputs of a decision). One row; when no agent is
-- feasible the row has routed = false, agent_name NULL and the reasons.
CREATE OR REPLACE FUNCTION public.ruvector_route(
    request text,
    optimize_for text DEFAULT 'balanced',
    required_capabilities text[] DEFAULT NULL,
    max_cost float8 DEFAULT NULL,
    max_latency_ms float8 DEFAULT NULL,
    min_quality float8 DEFAULT NULL,
    budget_remaining float8 DEFAULT NULL,
    excluded_agents text[] DEFAULT NULL,
    willingness_to_pay float8 DEFAULT NULL)
RETURNS TABLE (agent_name text, confidence float8, estimated_cost float8, estimated_latency_ms float8,
               expected_quality float8, similarity_score float8, reasoning text, alternatives jsonb,
               decision_id text, routed boolean, model_version text)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
    IF request IS NULL THEN
        RAISE EXCEPTION 'ruvector_route: request must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the text of the request to route.';
    END IF;
    RETURN QUERY
        SELECT d.agent_name, d.confidence, d.estimated_cost, d.estimated_latency_ms, d.expected_quality,
               d.similarity, d.reasoning, d.alternatives, d.decision_id, d.routed, d.model_version
          FROM public._ruvector_decide(ruvector_route.request, NULL, ruvector_route.optimize_for,
                                       ruvector_route.required_capabilities, ruvector_route.excluded_agents,
                                       ruvector_route.max_cost, ruvector_route.max_latency_ms,
                                       ruvector_route.min_quality, ruvector_route.budget_remaining,
                                       ruvector_route.willingness_to_pay) AS d;
END
$$;
COMMENT ON FUNCTION public.ruvector_route(text, text, text[], float8, float8, float8, float8, text[], float8)
    IS 'Route a request text under optional constraints (NULL ones are not applied); one row, routed = false '
       'with the reasons when no agent is feasible';

-- ---------------------------------------------------------------------------------------------
-- Semantic routing and classification (the integration plan's "Semantic Routing" and "Batch Routing")
-- ---------------------------------------------------------------------------------------------

-- The embedding of a text by routerd's embedder: real[] (float4[]), unit length, 384 dimensions by default.
CREATE OR REPLACE FUNCTION public.ruvector_embed(text text)
RETURNS real[]
LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$
    SELECT tinydancer.embed($1)
$$;
COMMENT ON FUNCTION public.ruvector_embed(text)
    IS 'The embedding of a text by routerd''s embedder (real[], unit length, 384 dimensions by default)';

-- The plan's form: ruvector_create_route(name := ..., description := ..., embedding := ruvector_embed(...),
-- target_agent := ..., priority := ...). A route here has example utterances; this one has a single
-- utterance, its description, whose vector is `embedding` when given (routerd embeds the description
-- otherwise). target_agent must be a registered agent (or NULL for none); a taken name is an ERROR
-- (the seed's map silently replaced it). Returns true.
CREATE OR REPLACE FUNCTION public.ruvector_create_route(
    name text,
    description text,
    target_agent text DEFAULT NULL,
    priority integer DEFAULT 0,
    embedding real[] DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
BEGIN
    IF ruvector_create_route.description IS NULL OR btrim(ruvector_create_route.description) = '' THEN
        RAISE EXCEPTION 'ruvector_create_route: description must not be empty: it is the route''s utterance'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Describe the requests the route is for, e.g. description := ''Handle customer support '
                         'inquiries''; for several example utterances INSERT INTO tinydancer.routes (name, utterances, ...).';
    END IF;
    IF array_ndims(ruvector_create_route.embedding) > 1 THEN
        RAISE EXCEPTION 'ruvector_create_route: embedding must be one vector, not % dimensions',
                array_ndims(ruvector_create_route.embedding)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass embedding := ruvector_embed(''...'').';
    END IF;
    INSERT INTO tinydancer.routes (name, description, target_agent, priority, utterances, utterance_embeddings)
    VALUES (ruvector_create_route.name, ruvector_create_route.description, ruvector_create_route.target_agent,
            coalesce(ruvector_create_route.priority, 0), ARRAY[ruvector_create_route.description],
            ruvector_create_route.embedding);
    RETURN true;
END
$$;
COMMENT ON FUNCTION public.ruvector_create_route(text, text, text, integer, real[])
    IS 'Create a semantic route whose one utterance is its description (embedded by routerd, or given as embedding); '
       'ERROR if the name is taken, the target agent unknown or a value invalid; true otherwise';

-- The seed's columns (route_name, similarity, target_agent, confidence), best first. confidence is
-- the calibrated probability that the route is the right one (not the seed's similarity x priority);
-- no row when nothing clears its threshold (out of scope).
CREATE OR REPLACE FUNCTION public.ruvector_semantic_route(query text, top_k integer DEFAULT 3)
RETURNS TABLE (route_name text, similarity float8, target_agent text, confidence float8)
LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$
    SELECT s.route_name, s.similarity, s.target_agent, s.confidence FROM tinydancer.semantic_route($1, $2) s
$$;
COMMENT ON FUNCTION public.ruvector_semantic_route(text, integer)
    IS 'The top_k semantic routes a query matches (route_name, similarity, target_agent, calibrated confidence), '
       'best first; no row when it is out of scope';

-- The seed's keys: classifications (the 10 most probable routes as [name, probability] pairs, most
-- probable first, as the seed's serde output of Vec<(String, f32)>), top_category and confidence (the most probable
-- route and its probability; null when out of scope is likelier). Added: out_of_scope_probability,
-- groups (as [name, probability] pairs) and capabilities ([tag, probability] pairs, multi-label).
CREATE OR REPLACE FUNCTION public.ruvector_classify_request(request text)
RETURNS jsonb
LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$
    SELECT jsonb_build_object(
               'classifications', coalesce(jsonb_agg(jsonb_build_array(c.category, c.probability) ORDER BY c.rank)
                                           FILTER (WHERE c.kind = 'route'), '[]'),
               'top_category', min(c.top_category),
               'confidence', min(c.confidence) FILTER (WHERE c.top_category IS NOT NULL),
               'out_of_scope_probability', min(c.probability) FILTER (WHERE c.kind = 'out_of_scope'),
               'groups', coalesce(jsonb_agg(jsonb_build_array(c.category, c.probability) ORDER BY c.rank)
                                  FILTER (WHERE c.kind = 'group'), '[]'),
               'capabilities', coalesce(jsonb_agg(jsonb_build_array(c.category, c.probability) ORDER BY c.rank)
                                        FILTER (WHERE c.kind = 'capability'), '[]'))
      FROM tinydancer.classifications_of($1) c
$$;
COMMENT ON FUNCTION public.ruvector_classify_request(text)
    IS 'Classify a request as jsonb: classifications ([route, probability] pairs), top_category, confidence '
       '(null when out of scope is likelier), out_of_scope_probability, groups, capabilities';

-- ---------------------------------------------------------------------------------------------
-- Statistics and maintenance
-- ---------------------------------------------------------------------------------------------

-- The seed's keys (total_agents, active_agents, total_requests, average_quality) and routerd's
-- (decisions, outcomes, total_spend, observed mean quality and success rate, open circuits, model).
-- total_requests counts recorded outcomes (completed requests), as the seed sums its agents'
-- request counters; average_quality is the mean declared quality_score over agents (null if none).
CREATE OR REPLACE FUNCTION public.ruvector_routing_stats()
RETURNS jsonb
LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$
    SELECT jsonb_build_object(
               'total_agents', s.agents,
               'active_agents', s.active_agents,
               'total_requests', s.outcomes,
               'average_quality', (SELECT avg(a.quality_score) FROM tinydancer.agents a),
               'decisions', s.decisions,
               'outcomes', s.outcomes,
               'total_spend', s.total_spend,
               'observed_quality', s.mean_quality,
               'success_rate', s.success_rate,
               'open_circuits', s.open_circuits,
               'model_version', s.model_version)
      FROM tinydancer.stats s
$$;
COMMENT ON FUNCTION public.ruvector_routing_stats()
    IS 'Routing statistics as jsonb: total_agents, active_agents, total_requests, average_quality, decisions, '
       'outcomes, total_spend, observed_quality, success_rate, open_circuits, model_version';

-- Remove every agent (the seed marks it "testing only"). Outcomes and decisions stay in the log.
CREATE OR REPLACE FUNCTION public.ruvector_clear_agents()
RETURNS boolean
LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$
    DELETE FROM tinydancer.agents;
    SELECT true;
$$;
COMMENT ON FUNCTION public.ruvector_clear_agents()
    IS 'Remove every agent (for tests); the outcome and decision logs are kept; true';

-- ---------------------------------------------------------------------------------------------
-- Analytics, budgets, batches and several agents (the integration plan's "Cost Optimization",
-- "Batch Routing" and multi-agent routing)
-- ---------------------------------------------------------------------------------------------

-- The seed's columns over tinydancer.analytics: the decisions made in the last `time_range` (an
-- interval: '7 days', '24 hours', '1 month'; NULL: all time), grouped by `group_by` (agent, day,
-- hour, route, objective or tag; the seed's column `agent` holds the group's key: for day and hour the
-- bucket's start in RFC 3339 UTC). agent is NULL for decisions routed nowhere (and for no route or no
-- tag). total_requests counts decisions, total_cost sums their outcomes' costs, avg_latency_ms and
-- success_rate are over those outcomes (NULL when the group has none).
CREATE OR REPLACE FUNCTION public.ruvector_routing_analytics(time_range text DEFAULT '7 days',
                                                             group_by text DEFAULT 'agent')
RETURNS TABLE (agent text, total_requests bigint, total_cost float8, avg_latency_ms float8, success_rate float8)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    span interval;
    q text := 'SELECT nullif(a.key, ''''), a.requests, a.spend, a.mean_latency_ms, a.success_rate '
              'FROM tinydancer.analytics a WHERE a.group_by = $1';
BEGIN
    IF time_range IS NOT NULL THEN
        BEGIN
            span := time_range::interval;
        EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
            RAISE EXCEPTION 'ruvector_routing_analytics: time_range % is not an interval', quote_literal(time_range)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Write time_range := ''7 days'' (or ''24 hours'', ''1 month''); NULL means all time.';
        END;
        IF span <= interval '0' THEN
            RAISE EXCEPTION 'ruvector_routing_analytics: time_range must be positive, not %', quote_literal(time_range)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'time_range is how far back to look, e.g. ''7 days''.';
        END IF;
        q := q || ' AND a.since = $2';
    END IF;
    RETURN QUERY EXECUTE q || ' ORDER BY a.bucket_start NULLS FIRST, a.key'
        USING coalesce(group_by, 'agent'), now() - span;
END
$$;
COMMENT ON FUNCTION public.ruvector_routing_analytics(text, text)
    IS 'Decisions of the last time_range (an interval; NULL: all) grouped by agent, day, hour, route, objective or tag: '
       'agent (the group''s key), total_requests, total_cost (outcomes'' costs), avg_latency_ms, success_rate';

-- The plan's multi-agent routing: one RouteMulti call through tinydancer.route_multi, one row per
-- stage (best first; for pipeline, in the order the stages run), the plan's totals on every row.
--   pipeline  stages that together cover required_capabilities (each the best of the agents adding the
--             most uncovered ones, under what earlier stages left of budget_remaining); without
--             required capabilities, the num_agents best agents in order. total_latency_ms is the sum,
--             plan_quality the product of the stages'.
--   parallel  num_agents feasible agents that differ most in provider and capabilities; the slowest
--             stage's latency, the best stage's quality.
--   ensemble  the num_agents of highest expected quality; plan_quality = 1 - prod(1 - q) (independent
--             failures assumed: an upper bound).
-- When no stage can be filled: one row, routed = false, stage NULL, reasoning says why. NULL
-- constraints are not applied.
CREATE OR REPLACE FUNCTION public.ruvector_route_multi(
    request text,
    num_agents integer,
    strategy text DEFAULT 'pipeline',
    optimize_for text DEFAULT 'balanced',
    required_capabilities text[] DEFAULT NULL,
    max_cost float8 DEFAULT NULL,
    max_latency_ms float8 DEFAULT NULL,
    min_quality float8 DEFAULT NULL,
    budget_remaining float8 DEFAULT NULL)
RETURNS TABLE (stage integer, agent_name text, capabilities text[], estimated_cost float8, estimated_latency_ms float8,
               expected_quality float8, score float8, reason text, decision_id text, routed boolean,
               total_cost float8, total_latency_ms float8, plan_quality float8, reasoning text,
               uncovered_capabilities text[])
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    q text := 'SELECT m.stage, m.agent_name, m.capabilities, m.estimated_cost, m.estimated_latency_ms, '
              'm.expected_quality, m.score, m.reason, m.decision_id, m.routed, m.total_cost, m.total_latency_ms, '
              'm.plan_quality, m.reasoning, m.uncovered_capabilities FROM tinydancer.route_multi m '
              'WHERE m.request = $1 AND m.num_agents = $2 AND m.strategy = $3 AND m.optimize_for = $4';
BEGIN
    IF request IS NULL THEN
        RAISE EXCEPTION 'ruvector_route_multi: request must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the text of the request to plan for.';
    END IF;
    IF num_agents IS NULL THEN
        RAISE EXCEPTION 'ruvector_route_multi: num_agents must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'num_agents is 1 .. the number of registered agents, e.g. num_agents := 3.';
    END IF;
    IF strategy IS NULL THEN
        RAISE EXCEPTION 'ruvector_route_multi: strategy must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'strategy is one of pipeline, parallel, ensemble.';
    END IF;
    PERFORM tinydancer._flat('ruvector_route_multi: required_capabilities', required_capabilities);
    IF cardinality(required_capabilities) > 0 THEN q := q || ' AND m.required_capabilities = $5'; END IF;
    IF max_cost IS NOT NULL THEN q := q || ' AND m.max_cost = $6'; END IF;
    IF max_latency_ms IS NOT NULL THEN q := q || ' AND m.max_latency_ms = $7'; END IF;
    IF min_quality IS NOT NULL THEN q := q || ' AND m.min_quality = $8'; END IF;
    IF budget_remaining IS NOT NULL THEN q := q || ' AND m.budget_remaining = $9'; END IF;
    RETURN QUERY EXECUTE q || ' ORDER BY m.stage' USING request, num_agents, strategy,
        coalesce(optimize_for, 'balanced'), required_capabilities, max_cost, max_latency_ms, min_quality,
        budget_remaining;
END
$$;
COMMENT ON FUNCTION public.ruvector_route_multi(text, integer, text, text, text[], float8, float8, float8, float8)
    IS 'Several agents for one request (strategy pipeline, parallel or ensemble): one row per stage with the plan''s '
       'total_cost, total_latency_ms, plan_quality and reasoning; routed = false (stage NULL) when none fits';

-- The seed's keys: allocations (agent -> USD over the period), total_budget and period_days (30), from
-- one OptimizeBudget call through tinydancer.budget_plan: the willingness to pay whose routing of the
-- last 7 days' request mix (scaled to 30 days) spends at most monthly_budget, each request on agents of
-- expected quality >= quality_threshold and expected latency <= latency_threshold_ms (NULL: no
-- threshold). The seed split the budget over agents in proportion to usage; here the allocation is
-- what routing with that willingness to pay would spend on each agent. Added keys: willingness_to_pay
-- (route with it; null when the budget is not binding), lambda, binding, projected_spend,
-- projected_quality, proportional_spend and proportional_quality (the seed's rule on the same mix),
-- mix_requests, unmet_requests (no agent met the thresholds), minimum_spend (below it the budget
-- cannot be met: feasible is false) and agents ([{agent_name, requests, spend, share, mean_quality}]).
-- An empty mix (no decision in the last 7 days) is an ERROR with a HINT.
CREATE OR REPLACE FUNCTION public.ruvector_optimize_budget(
    monthly_budget float8,
    quality_threshold float8 DEFAULT 0.8,
    latency_threshold_ms float8 DEFAULT 5000)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    q text := 'SELECT p.* FROM tinydancer.budget_plan p WHERE p.budget = $1 AND p.period_days = 30';
    result jsonb;
BEGIN
    IF monthly_budget IS NULL THEN
        RAISE EXCEPTION 'ruvector_optimize_budget: monthly_budget must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the USD to spend in 30 days, e.g. 100.00.';
    END IF;
    IF quality_threshold IS NOT NULL THEN q := q || ' AND p.quality_threshold = $2'; END IF;
    IF latency_threshold_ms IS NOT NULL THEN q := q || ' AND p.latency_threshold_ms = $3'; END IF;
    EXECUTE 'SELECT jsonb_build_object('
            '''allocations'', coalesce(jsonb_object_agg(t.agent_name, t.spend) FILTER (WHERE t.agent_name IS NOT NULL), '
            '''{}''), ''total_budget'', $1::float8, ''period_days'', 30, '
            '''willingness_to_pay'', min(t.willingness_to_pay), ''lambda'', min(t.lambda), ''binding'', bool_and(t.binding), '
            '''projected_spend'', min(t.projected_spend), ''projected_quality'', min(t.projected_quality), '
            '''proportional_spend'', min(t.proportional_spend), ''proportional_quality'', min(t.proportional_quality), '
            '''mix_requests'', min(t.mix_requests), ''unmet_requests'', min(t.unmet_requests), '
            '''minimum_spend'', min(t.minimum_spend), ''feasible'', bool_and(t.feasible), '
            '''agents'', coalesce(jsonb_agg(jsonb_build_object(''agent_name'', t.agent_name, ''requests'', t.requests, '
            '''spend'', t.spend, ''share'', t.share, ''mean_quality'', t.mean_quality) ORDER BY t.spend DESC, t.agent_name) '
            'FILTER (WHERE t.agent_name IS NOT NULL), ''[]'')) FROM (' || q || ') t'
        INTO result USING monthly_budget, quality_threshold, latency_threshold_ms;
    RETURN result;
END
$$;
COMMENT ON FUNCTION public.ruvector_optimize_budget(float8, float8, float8)
    IS 'The monthly budget''s allocation over agents (allocations: agent -> USD in 30 days, total_budget, period_days) '
       'from the recent request mix routed with the willingness to pay that spends it, plus that willingness_to_pay, '
       'projected and proportional spend and quality, minimum_spend, feasible and per-agent details';

-- The plan's batch routing: the requests in one BatchRoute call (tinydancer.batch_routes), one row per
-- request in order (position is 1-based; duplicates are routed each time; a NULL element is an ERROR).
--   optimize_for 'total_cost' with batch_budget: the batch's total expected quality maximised within
--       batch_budget (USD for the whole batch), in one Lagrangian solve (BatchRouteRequest.batch_objective
--       total_cost).
--   optimize_for 'total_cost' without a budget (as in the seed's example): the lowest total cost. With no
--       shared budget the requests are independent, so each one is routed by the 'cost' objective.
--   any other optimize_for (cost, latency, quality, balanced, quality_per_dollar): that objective for each
--       request, in order; a batch_budget is then reserved from in that order (the rest unrouted).
-- total_cost and total_quality are the sums over the routed requests (on every row).
CREATE OR REPLACE FUNCTION public.ruvector_batch_route(
    requests text[],
    optimize_for text DEFAULT 'balanced',
    batch_budget float8 DEFAULT NULL)
RETURNS TABLE ("position" integer, request text, agent_name text, routed boolean, confidence float8,
               estimated_cost float8, estimated_latency_ms float8, expected_quality float8, decision_id text,
               reasoning text, total_cost float8, total_quality float8)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    objective text := coalesce(optimize_for, 'balanced');
    q text := 'SELECT b.position, b.request, b.agent_name, b.routed, b.confidence, b.estimated_cost, '
              'b.estimated_latency_ms, b.expected_quality, b.decision_id, b.reasoning, '
              'coalesce(sum(b.estimated_cost) OVER (), 0), coalesce(sum(b.expected_quality) OVER (), 0) '
              'FROM tinydancer.batch_routes b WHERE b.requests = $1';
BEGIN
    IF requests IS NULL THEN
        RAISE EXCEPTION 'ruvector_batch_route: requests must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass an array of texts: ARRAY[''a'', ''b''].';
    END IF;
    PERFORM tinydancer._flat('ruvector_batch_route: requests', requests);
    IF cardinality(requests) = 0 THEN
        RETURN;
    END IF;
    IF objective = 'total_cost' AND batch_budget IS NOT NULL THEN
        q := q || ' AND b.batch_objective = ''total_cost'' AND b.batch_budget = $3';
    ELSIF objective = 'total_cost' THEN
        q := q || ' AND b.optimize_for = ''cost''';
    ELSE
        q := q || ' AND b.optimize_for = $2';
        IF batch_budget IS NOT NULL THEN q := q || ' AND b.batch_budget = $3'; END IF;
    END IF;
    RETURN QUERY EXECUTE q || ' ORDER BY b.position' USING requests, objective, batch_budget;
END
$$;
COMMENT ON FUNCTION public.ruvector_batch_route(text[], text, float8)
    IS 'Route an array of requests in one call, one row per request in order: optimize_for total_cost maximises '
       'total quality within batch_budget (without one: each request by the cost objective), any other objective '
       'applies per request; total_cost and total_quality on every row';
