-- 0001: the agent registry, the outcome log and the decision log.
--
-- One file serves both dialects: SQLite maps DOUBLE PRECISION to REAL, BIGINT to INTEGER and
-- BOOLEAN to NUMERIC affinity, and PostgreSQL takes them as they are. Times are Unix seconds.
-- The runner splits a file on ";" (after dropping "--" comments), so no statement may contain one.

CREATE TABLE agents (
    name                      TEXT PRIMARY KEY,
    -- AgentSpec
    agent_type                TEXT NOT NULL,
    capabilities              TEXT NOT NULL,              -- JSON array of strings
    cost_per_1k_input_tokens  DOUBLE PRECISION NOT NULL,
    cost_per_1k_output_tokens DOUBLE PRECISION NOT NULL,
    cost_per_call             DOUBLE PRECISION NOT NULL,
    cost_per_second           DOUBLE PRECISION NOT NULL,
    latency_prior_ms          DOUBLE PRECISION NOT NULL,
    quality_prior             DOUBLE PRECISION NOT NULL,
    metadata                  TEXT NOT NULL,              -- JSON object
    active                    BOOLEAN NOT NULL,
    typical_output_tokens     BIGINT NOT NULL,
    -- AgentStats
    total_requests            BIGINT NOT NULL DEFAULT 0,
    successes                 BIGINT NOT NULL DEFAULT 0,
    latency_sum_ms            DOUBLE PRECISION NOT NULL DEFAULT 0,
    quality_sum               DOUBLE PRECISION NOT NULL DEFAULT 0,
    quality_count             BIGINT NOT NULL DEFAULT 0,
    total_spend               DOUBLE PRECISION NOT NULL DEFAULT 0,
    p95_latency_ms            DOUBLE PRECISION,
    p99_latency_ms            DOUBLE PRECISION,
    breaker_state             TEXT NOT NULL DEFAULT 'closed',
    consecutive_failures      BIGINT NOT NULL DEFAULT 0,
    breaker_opened_at         DOUBLE PRECISION,
    created_at                DOUBLE PRECISION NOT NULL,
    updated_at                DOUBLE PRECISION NOT NULL
);

-- No foreign key to agents: an outcome outlives the agent it was recorded for.
CREATE TABLE outcomes (
    outcome_id    TEXT PRIMARY KEY,
    decision_id   TEXT,
    agent_name    TEXT NOT NULL,
    recorded_at   DOUBLE PRECISION NOT NULL,
    latency_ms    DOUBLE PRECISION NOT NULL,
    success       BOOLEAN NOT NULL,
    quality       DOUBLE PRECISION,
    cost          DOUBLE PRECISION,
    input_tokens  BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL
);
CREATE INDEX outcomes_recorded_at_idx ON outcomes (recorded_at, outcome_id);
CREATE INDEX outcomes_agent_recorded_at_idx ON outcomes (agent_name, recorded_at);
CREATE INDEX outcomes_decision_id_idx ON outcomes (decision_id);

CREATE TABLE decisions (
    decision_id          TEXT PRIMARY KEY,
    decided_at           DOUBLE PRECISION NOT NULL,
    agent_name           TEXT,                            -- NULL when nothing was feasible
    objective            TEXT NOT NULL,
    request_text         TEXT NOT NULL,
    estimated_cost       DOUBLE PRECISION,
    estimated_latency_ms DOUBLE PRECISION,
    expected_quality     DOUBLE PRECISION,
    confidence           DOUBLE PRECISION,
    model_version        TEXT NOT NULL
);
CREATE INDEX decisions_decided_at_idx ON decisions (decided_at);
