"""Every SQL example of the two seed documents that uses a seed-compatible function in scope, run
verbatim against the real stack (PostgreSQL + bridge + sql/*.sql + a fresh routerd per test), with
assertions on what comes back; and the ruvector_* functions' own behaviour and errors.

The examples are copied verbatim from
  seeds/tiny-dancer-implementation-summary.md (S_* constants; the ```sql blocks, by section) and
  seeds/tiny-dancer-integration-plan.md        (P_* constants; the "SQL Interface" examples, by section).
``test_examples_are_verbatim`` checks each constant against the seed file when the seeds are there
(``TINYDANCER_SEEDS``, default /work/shared/seeds). A block is run statement by statement; a
statement that cannot run verbatim is listed in ``NOT_VERBATIM`` with the reason, and is run anyway
to show that reason (it must fail with the listed error), or against the listed stand-in.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors

from routerd.model.embedders import HashingEmbedder
from tests.harness.sql import SQL, SQL_DIR, install

SEEDS = Path(os.environ.get("TINYDANCER_SEEDS", "/work/shared/seeds"))
SUMMARY = "tiny-dancer-implementation-summary.md"
PLAN = "tiny-dancer-integration-plan.md"

# ---------------------------------------------------------------------------------------------
# seeds/tiny-dancer-implementation-summary.md
# ---------------------------------------------------------------------------------------------

# "SQL Functions" > "Agent Management", "Routing", "Statistics": signature listings, not SQL.
S_AGENT_MANAGEMENT = """\
-- Register agent
ruvector_register_agent(name, type, capabilities, cost, latency, quality)

-- Register with full config
ruvector_register_agent_full(config_jsonb)

-- Update metrics
ruvector_update_agent_metrics(name, latency_ms, success, quality)

-- Remove agent
ruvector_remove_agent(name)

-- Set active status
ruvector_set_agent_active(name, is_active)

-- Get agent details
ruvector_get_agent(name) -> jsonb

-- List all agents
ruvector_list_agents() -> table

-- Find by capability
ruvector_find_agents_by_capability(capability, limit) -> table
"""

S_ROUTING = """\
-- Route request
ruvector_route(
    request_embedding float4[],
    optimize_for text,
    constraints jsonb
) -> jsonb
"""

S_STATISTICS = """\
-- Get routing statistics
ruvector_routing_stats() -> jsonb

-- Clear all agents (testing only)
ruvector_clear_agents() -> boolean
"""

# "Usage Examples" > "Basic Routing"
S_BASIC_ROUTING = """\
-- Register agents
SELECT ruvector_register_agent(
    'gpt-4', 'llm',
    ARRAY['coding', 'reasoning'],
    0.03, 500.0, 0.95
);

SELECT ruvector_register_agent(
    'gpt-3.5-turbo', 'llm',
    ARRAY['general', 'fast'],
    0.002, 150.0, 0.75
);

-- Route request (cost-optimized)
SELECT ruvector_route(
    embedding_vector,
    'cost',
    NULL
) FROM requests WHERE id = 1;

-- Route with constraints
SELECT ruvector_route(
    embedding_vector,
    'quality',
    '{"max_cost": 0.01, "min_quality": 0.8}'::jsonb
);
"""

# "Usage Examples" > "Advanced Patterns"
S_ADVANCED_PATTERNS = """\
-- Smart routing function
CREATE FUNCTION smart_route(
    embedding vector,
    task_type text,
    priority text
) RETURNS jsonb AS $$
    SELECT ruvector_route(
        embedding::float4[],
        CASE priority
            WHEN 'critical' THEN 'quality'
            WHEN 'low' THEN 'cost'
            ELSE 'balanced'
        END,
        jsonb_build_object(
            'required_capabilities',
            CASE task_type
                WHEN 'coding' THEN ARRAY['coding']
                WHEN 'writing' THEN ARRAY['writing']
                ELSE ARRAY[]::text[]
            END
        )
    );
$$ LANGUAGE sql;

-- Batch processing
SELECT
    r.id,
    (ruvector_route(r.embedding, 'balanced', NULL))::jsonb->>'agent_name' AS agent
FROM requests r
WHERE processed = false
LIMIT 1000;
"""

# "Monitoring" > "Agent Health"
S_AGENT_HEALTH = """\
-- Monitor agent performance
SELECT name, success_rate, avg_latency_ms, quality_score
FROM ruvector_list_agents()
WHERE success_rate < 0.90 OR avg_latency_ms > 1000;
"""

# "Monitoring" > "Cost Tracking" (uses no ruvector_* function; listed, not run)
S_COST_TRACKING = """\
-- Track daily costs
SELECT
    DATE_TRUNC('day', completed_at) AS day,
    agent_name,
    SUM(cost) AS total_cost,
    COUNT(*) AS requests
FROM request_completions
GROUP BY day, agent_name;
"""

# "Monitoring" > "Routing Statistics"
S_ROUTING_STATISTICS = """\
-- Overall statistics
SELECT ruvector_routing_stats();
"""

# "Quick Start"
S_QUICK_START = """\
-- 1. Register agents
SELECT ruvector_register_agent('gpt-4', 'llm', ARRAY['coding'], 0.03, 500.0, 0.95);
SELECT ruvector_register_agent('gpt-3.5', 'llm', ARRAY['general'], 0.002, 150.0, 0.75);

-- 2. Route a request
SELECT ruvector_route(
    (SELECT embedding FROM requests WHERE id = 1),
    'balanced',
    NULL
);

-- 3. Update metrics after completion
SELECT ruvector_update_agent_metrics('gpt-4', 450.0, true, 0.92);

-- 4. Monitor performance
SELECT * FROM ruvector_list_agents();
SELECT ruvector_routing_stats();
"""

# ---------------------------------------------------------------------------------------------
# seeds/tiny-dancer-integration-plan.md (a rendered page: its code fences are gone, the SQL is intact)
# ---------------------------------------------------------------------------------------------

# "SQL Interface" > "Agent Registration"
P_AGENT_REGISTRATION = """\
-- Register AI agents/models
SELECT ruvector_register_agent(
    name := 'gpt-4',
    agent_type := 'llm',
    capabilities := ARRAY['reasoning', 'code', 'analysis', 'creative'],
    cost_per_1k_tokens := 0.03,
    avg_latency_ms := 2500,
    quality_score := 0.95,
    metadata := '{"provider": "openai", "context_window": 128000}'
);

SELECT ruvector_register_agent(
    name := 'claude-3-haiku',
    agent_type := 'llm',
    capabilities := ARRAY['fast-response', 'simple-tasks', 'classification'],
    cost_per_1k_tokens := 0.00025,
    avg_latency_ms := 400,
    quality_score := 0.80,
    metadata := '{"provider": "anthropic", "context_window": 200000}'
);

SELECT ruvector_register_agent(
    name := 'code-specialist',
    agent_type := 'tool',
    capabilities := ARRAY['code-execution', 'debugging', 'testing'],
    cost_per_call := 0.001,
    avg_latency_ms := 100,
    quality_score := 0.90
);

-- List registered agents
SELECT * FROM ruvector_list_agents();
"""

# "SQL Interface" > "Basic Routing"
P_BASIC_ROUTING = """\
-- Route a request to the best agent
SELECT * FROM ruvector_route(
    request := 'Write a Python function to calculate Fibonacci numbers',
    optimize_for := 'cost'  -- or 'latency', 'quality', 'balanced'
);

-- Result:
-- | agent_name | confidence | estimated_cost | estimated_latency |
-- |------------|------------|----------------|-------------------|
-- | claude-3-haiku | 0.85 | 0.001 | 400ms |

-- Route with constraints
SELECT * FROM ruvector_route(
    request := 'Analyze this complex legal document',
    required_capabilities := ARRAY['reasoning', 'analysis'],
    max_cost := 0.10,
    max_latency_ms := 5000,
    min_quality := 0.90
);

-- Multi-agent routing (for complex tasks)
SELECT * FROM ruvector_route_multi(
    request := 'Build and deploy a web application',
    num_agents := 3,
    strategy := 'pipeline'  -- or 'parallel', 'ensemble'
);
"""

# "SQL Interface" > "Semantic Routing"
P_SEMANTIC_ROUTING = """\
-- Create semantic routes (like function calling)
SELECT ruvector_create_route(
    name := 'customer_support',
    description := 'Handle customer support inquiries, complaints, and feedback',
    embedding := ruvector_embed('Customer support and help requests'),
    target_agent := 'support-agent',
    priority := 1
);

SELECT ruvector_create_route(
    name := 'technical_docs',
    description := 'Answer questions about technical documentation and APIs',
    embedding := ruvector_embed('Technical documentation and API reference'),
    target_agent := 'docs-agent',
    priority := 2
);

-- Semantic route matching
SELECT * FROM ruvector_semantic_route(
    query := 'How do I reset my password?',
    top_k := 3
);

-- Result:
-- | route_name | similarity | target_agent | confidence |
-- |------------|------------|--------------|------------|
-- | customer_support | 0.92 | support-agent | 0.95 |
"""

# "SQL Interface" > "Cost Optimization"
P_COST_OPTIMIZATION = """\
-- Analyze routing costs
SELECT * FROM ruvector_routing_analytics(
    time_range := '7 days',
    group_by := 'agent'
);

-- Result:
-- | agent | total_requests | total_cost | avg_latency | success_rate |
-- |-------|----------------|------------|-------------|--------------|
-- | gpt-4 | 1000 | $30.00 | 2.5s | 99.2% |
-- | haiku | 5000 | $1.25 | 0.4s | 98.5% |

-- Optimize budget allocation
SELECT * FROM ruvector_optimize_budget(
    monthly_budget := 100.00,
    quality_threshold := 0.85,
    latency_threshold_ms := 2000
);

-- Auto-route with budget awareness
SELECT * FROM ruvector_route(
    request := 'Summarize this article',
    budget_remaining := 10.00,
    optimize_for := 'quality_per_dollar'
);
"""

# "SQL Interface" > "Batch Routing"
P_BATCH_ROUTING = """\
-- Route multiple requests efficiently
SELECT * FROM ruvector_batch_route(
    requests := ARRAY[
        'Simple question 1',
        'Complex analysis task',
        'Code generation request'
    ],
    optimize_for := 'total_cost'
);

-- Classify requests in batch (for preprocessing)
SELECT request_id, ruvector_classify_request(content) AS classification
FROM pending_requests;
"""

# All example blocks, by (seed, section), in document order.
BLOCKS: dict[tuple[str, str], str] = {
    (SUMMARY, "SQL Functions > Agent Management"): S_AGENT_MANAGEMENT,
    (SUMMARY, "SQL Functions > Routing"): S_ROUTING,
    (SUMMARY, "SQL Functions > Statistics"): S_STATISTICS,
    (SUMMARY, "Usage Examples > Basic Routing"): S_BASIC_ROUTING,
    (SUMMARY, "Usage Examples > Advanced Patterns"): S_ADVANCED_PATTERNS,
    (SUMMARY, "Monitoring > Agent Health"): S_AGENT_HEALTH,
    (SUMMARY, "Monitoring > Cost Tracking"): S_COST_TRACKING,
    (SUMMARY, "Monitoring > Routing Statistics"): S_ROUTING_STATISTICS,
    (SUMMARY, "Quick Start"): S_QUICK_START,
    (PLAN, "SQL Interface > Agent Registration"): P_AGENT_REGISTRATION,
    (PLAN, "SQL Interface > Basic Routing"): P_BASIC_ROUTING,
    (PLAN, "SQL Interface > Semantic Routing"): P_SEMANTIC_ROUTING,
    (PLAN, "SQL Interface > Cost Optimization"): P_COST_OPTIMIZATION,
    (PLAN, "SQL Interface > Batch Routing"): P_BATCH_ROUTING,
}

STAND_IN = "stand-in"


@dataclass(frozen=True)
class NotVerbatim:
    """A seed statement that cannot run verbatim here. ``marker`` is a substring that identifies it
    in its block. ``outcome`` is what running it verbatim gives: the PostgreSQL error class it must
    raise (showing the reason is real), STAND_IN (it runs verbatim against the stand-in the reason
    names, and must succeed), or None (not run at all)."""

    seed: str
    section: str
    marker: str
    reason: str
    outcome: type[psycopg.Error] | str | None


NOT_VERBATIM: tuple[NotVerbatim, ...] = (
    NotVerbatim(SUMMARY, "SQL Functions > Agent Management", "-- Register agent\n",
                "a listing of signatures (`name(args) -> type` lines), not SQL; each signature is checked "
                "against the catalog by test_summary_function_listings_match_the_catalog", errors.SyntaxError),
    NotVerbatim(SUMMARY, "SQL Functions > Routing", "-- Route request\n",
                "a signature listing, not SQL (checked against the catalog instead)", errors.SyntaxError),
    NotVerbatim(SUMMARY, "SQL Functions > Statistics", "-- Get routing statistics\n",
                "a signature listing, not SQL (checked against the catalog instead)", errors.SyntaxError),
    NotVerbatim(SUMMARY, "Usage Examples > Basic Routing", "'{\"max_cost\": 0.01, \"min_quality\": 0.8}'::jsonb\n);",
                "the seed's own SQL is invalid: it reads the column embedding_vector with no FROM clause",
                errors.UndefinedColumn),
    NotVerbatim(SUMMARY, "Usage Examples > Advanced Patterns", "CREATE FUNCTION smart_route(",
                "its parameter has pgvector's type `vector`, and pgvector is not installable here; the test runs "
                "the verbatim text against a stand-in `CREATE DOMAIN vector AS float4[]` in a scratch schema",
                STAND_IN),
    NotVerbatim(SUMMARY, "Monitoring > Cost Tracking", "FROM request_completions",
                "uses no ruvector_* function: plain SQL over the user's own request_completions table, which "
                "neither seed defines (not in scope)", None),
)


# ---------------------------------------------------------------------------------------------
# Running a block
# ---------------------------------------------------------------------------------------------

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def split_sql(text: str) -> list[str]:
    """The statements of ``text`` (each with its leading comments and ``;``); comment-only ones dropped.
    Knows quotes, quoted identifiers, ``--`` comments and dollar quoting: enough for the seeds."""
    out: list[str] = []
    start = i = 0
    n = len(text)
    while i < n:
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text[i] in "'\"":
            q = text[i]
            j = i + 1
            while True:
                j = text.find(q, j)
                if j < 0:
                    raise ValueError(f"unterminated {q} in {text[i:i + 60]!r}")
                if text.startswith(q * 2, j):
                    j += 2
                    continue
                break
            i = j + 1
        elif (m := _DOLLAR.match(text, i)) is not None and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            j = text.find(m.group(0), m.end())
            if j < 0:
                raise ValueError(f"unterminated {m.group(0)}")
            i = j + len(m.group(0))
        elif text[i] == ";":
            out.append(text[start:i + 1])
            start = i = i + 1
        else:
            i += 1
    out.append(text[start:])
    return [s.strip() for s in out if re.sub(r"--[^\n]*", "", s).strip()]


@dataclass
class Ran:
    statement: str
    rows: list[dict[str, Any]] | None
    error: psycopg.Error | None


def not_verbatim(seed: str, section: str, statement: str) -> NotVerbatim | None:
    hits = [nv for nv in NOT_VERBATIM if nv.seed == seed and nv.section == section and nv.marker in statement]
    assert len(hits) <= 1, hits
    return hits[0] if hits else None


class Results:
    def __init__(self, ran: list[Ran]):
        self.ran = ran

    def __call__(self, marker: str) -> list[dict[str, Any]]:
        """The rows of the one statement that contains ``marker``."""
        hits = [r for r in self.ran if marker in r.statement]
        assert len(hits) == 1, (marker, [r.statement for r in hits])
        assert hits[0].rows is not None, hits[0].error
        return hits[0].rows

    def error(self, marker: str) -> psycopg.Error:
        hits = [r for r in self.ran if marker in r.statement and r.error is not None]
        assert len(hits) == 1, marker
        err = hits[0].error
        assert err is not None
        return err


def run_block(sql: SQL, seed: str, section: str, *, only: str | None = None) -> Results:
    """Run the block's statements verbatim, in order (``only``: just those containing that text).
    Listed statements must fail with their listed error (or succeed against their stand-in)."""
    ran: list[Ran] = []
    for stmt in split_sql(BLOCKS[(seed, section)]):
        if only is not None and only not in stmt:
            continue
        nv = not_verbatim(seed, section, stmt)
        if nv is not None and nv.outcome is None:
            continue
        try:
            cur = sql.conn.execute(stmt)
            names = [d.name for d in cur.description or []]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()] if cur.description else []
        except psycopg.Error as e:
            if nv is not None and isinstance(nv.outcome, type) and isinstance(e, nv.outcome):
                ran.append(Ran(stmt, None, e))
                continue
            raise AssertionError(f"seed statement failed ({seed}, {section}):\n{stmt}\n-> {e!r}") from e
        if nv is not None and nv.outcome is not STAND_IN:
            raise AssertionError(f"listed as not runnable ({nv.reason}) but it ran:\n{stmt}")
        ran.append(Ran(stmt, rows, None))
    return Results(ran)


# ---------------------------------------------------------------------------------------------
# The fixture setup the examples assume
# ---------------------------------------------------------------------------------------------

REQUESTS = (  # id, content, processed
    (1, "Write a Python function to calculate Fibonacci numbers", False),
    (2, "Summarize this article about the history of jazz", False),
    (3, "Debug this failing unit test in the payment service", False),
    (4, "Translate the release notes into French", True),
)
EMBEDDER = HashingEmbedder(384)  # routerd's default embedder, and the seeds' 384 dimensions


def embedding(text: str) -> list[float]:
    return [float(x) for x in EMBEDDER.embed([text])[0]]


def make_requests(sql: SQL) -> None:
    """The seeds' `requests` table: id, embedding float4[] (also as embedding_vector, the name the
    summary's Basic Routing uses), processed, content; real 384-dimensional embeddings."""
    sql.q("CREATE TEMP TABLE requests (id integer PRIMARY KEY, content text NOT NULL, embedding float4[] NOT NULL, "
          "embedding_vector float4[] NOT NULL, processed boolean NOT NULL DEFAULT false)")
    for rid, content, processed in REQUESTS:
        e = embedding(content)
        sql.q("INSERT INTO requests VALUES (%s, %s, %s, %s, %s)", (rid, content, e, e, processed))


def decision(value: Any) -> dict[str, Any]:
    d = value if isinstance(value, dict) else json.loads(value)
    assert isinstance(d, dict)
    return d


def assert_routed(d: dict[str, Any], agent: str, *, cost: float, latency: float, quality: float) -> None:
    assert d["routed"] is True, d
    assert d["agent_name"] == agent, d
    assert d["estimated_cost"] == pytest.approx(cost), d
    assert d["estimated_latency_ms"] == pytest.approx(latency), d
    assert d["expected_quality"] == pytest.approx(quality), d
    assert 0.0 < d["confidence"] <= 1.0, d
    assert re.fullmatch(r"[0-9a-f]{24}", d["decision_id"]), d
    assert agent in d["reasoning"], d
    assert isinstance(d["alternatives"], list), d


# The agents of the summary's Basic Routing (6-argument form: cost per request, latency, quality).
GPT4 = {"cost": 0.03, "latency": 500.0, "quality": 0.95}
GPT35 = {"cost": 0.002, "latency": 150.0, "quality": 0.75}


# ---------------------------------------------------------------------------------------------
# The seed examples
# ---------------------------------------------------------------------------------------------

def test_examples_are_verbatim() -> None:
    if not (SEEDS / SUMMARY).exists() or not (SEEDS / PLAN).exists():
        pytest.skip(f"the seed documents are not at {SEEDS} (set TINYDANCER_SEEDS)")
    texts = {SUMMARY: (SEEDS / SUMMARY).read_text(), PLAN: (SEEDS / PLAN).read_text()}
    for (seed, section), block in BLOCKS.items():
        assert block in texts[seed], f"{seed} / {section} is not verbatim"
    # Every ```sql block of the summary is here (the plan has no fences left to find them by).
    fenced = re.findall(r"```sql\n(.*?)```", texts[SUMMARY], flags=re.S)
    ours = {b for (seed, _), b in BLOCKS.items() if seed == SUMMARY}
    assert set(fenced) == ours
    # Every ruvector_* call of the plan's SQL Interface section is in one of our blocks, as often.
    interface = texts[PLAN].split("SQL Interface", 1)[1].split("Implementation Phases", 1)[0]
    plan_blocks = "".join(b for (seed, _), b in BLOCKS.items() if seed == PLAN)
    calls = re.findall(r"ruvector_\w+\(", interface)
    assert len(calls) == 17 and sorted(calls) == sorted(re.findall(r"ruvector_\w+\(", plan_blocks))
    # Each listing marks a statement of its block.
    for nv in NOT_VERBATIM:
        assert any(nv.marker in s for s in split_sql(BLOCKS[(nv.seed, nv.section)])), nv


def test_split_sql() -> None:
    assert split_sql("-- c\nSELECT 'a;b', \"x;\" FROM t; -- $30.00\n-- only a comment\n") == [
        "-- c\nSELECT 'a;b', \"x;\" FROM t;"]
    body = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;"
    assert split_sql(body + "\nSELECT f();") == [body, "SELECT f();"]


def test_summary_function_listings_match_the_catalog(sql: SQL) -> None:
    """The summary's "SQL Functions" listings (not runnable SQL) name these signatures."""
    for section in ("SQL Functions > Agent Management", "SQL Functions > Routing", "SQL Functions > Statistics"):
        res = run_block(sql, SUMMARY, section)
        assert all(isinstance(r.error, errors.SyntaxError) for r in res.ran) and res.ran
    sigs = {(r["name"], r["args"]): r for r in sql.dicts(
        "SELECT p.proname AS name, pg_get_function_identity_arguments(p.oid) AS args, "
        "pg_get_function_result(p.oid) AS result, p.proretset AS retset, p.provolatile AS volatile, "
        "p.proparallel AS parallel, obj_description(p.oid, 'pg_proc') AS comment "
        "FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE 'ruvector\\_%'")}
    expected = {  # (name, identity arguments) -> result type
        ("ruvector_register_agent", "name text, agent_type text, capabilities text[], cost_per_request double "
         "precision, avg_latency_ms double precision, quality_score double precision"): "boolean",
        ("ruvector_register_agent_full", "config jsonb"): "boolean",
        ("ruvector_update_agent_metrics", "name text, latency_ms double precision, success boolean, "
         "quality double precision"): "boolean",
        ("ruvector_remove_agent", "name text"): "boolean",
        ("ruvector_set_agent_active", "name text, is_active boolean"): "boolean",
        ("ruvector_get_agent", "name text"): "jsonb",
        ("ruvector_find_agents_by_capability", 'capability text, "limit" integer'):
            "TABLE(name text, quality_score double precision, avg_latency_ms double precision, "
            "cost_per_request double precision)",
        ("ruvector_route", "request_embedding real[], optimize_for text, constraints jsonb"): "jsonb",
        ("ruvector_routing_stats", ""): "jsonb",
        ("ruvector_clear_agents", ""): "boolean",
    }
    for key, result in expected.items():
        assert key in sigs, key
        assert sigs[key]["result"] == result
    listed = sigs[("ruvector_list_agents", "")]
    assert listed["retset"] and listed["result"].startswith(
        "TABLE(name text, agent_type text, capabilities text[], cost_per_request double precision, "
        "avg_latency_ms double precision, quality_score double precision, success_rate double precision, "
        "total_requests bigint, is_active boolean")
    # Both register forms and both route forms exist; every function is volatile, parallel unsafe, commented.
    assert sum(n == "ruvector_register_agent" for n, _ in sigs) == 2
    assert sum(n == "ruvector_route" for n, _ in sigs) == 2
    for key, r in sigs.items():
        assert (r["volatile"], r["parallel"]) == ("v", "u"), key
        assert r["comment"], key


def test_summary_basic_routing(sql: SQL) -> None:
    make_requests(sql)
    res = run_block(sql, SUMMARY, "Usage Examples > Basic Routing")
    assert res("'gpt-4', 'llm'") == [{"ruvector_register_agent": True}]
    assert res("'gpt-3.5-turbo', 'llm'") == [{"ruvector_register_agent": True}]
    [row] = res("'cost',")
    d = decision(row["ruvector_route"])
    # cost-optimised: the 15x cheaper agent, at its declared cost per request and latency
    assert_routed(d, "gpt-3.5-turbo", cost=GPT35["cost"], latency=GPT35["latency"], quality=GPT35["quality"])
    assert d["optimize_for"] == "cost"
    assert -1.0 <= d["similarity_score"] <= 1.0
    assert [(a["agent_name"], a["feasible"]) for a in d["alternatives"]] == [("gpt-4", True)]
    assert res.error("'quality',").diag.message_primary == 'column "embedding_vector" does not exist'
    # What the broken statement meant, on a row that exists: quality within max_cost 0.01 and
    # min_quality 0.8 — gpt-4 costs 0.03 and gpt-3.5-turbo's quality is 0.75, so nothing is feasible.
    d = decision(sql.one("SELECT ruvector_route(embedding_vector, 'quality', "
                         "'{\"max_cost\": 0.01, \"min_quality\": 0.8}'::jsonb) FROM requests WHERE id = 1"))
    assert d["routed"] is False and d["agent_name"] is None
    reasons = {a["agent_name"]: a["reason"] for a in d["alternatives"]}
    assert "exceeds max_cost" in reasons["gpt-4"] and "below min_quality" in reasons["gpt-3.5-turbo"]


def test_summary_advanced_patterns(sql: SQL) -> None:
    make_requests(sql)
    run_block(sql, SUMMARY, "Usage Examples > Basic Routing", only="SELECT ruvector_register_agent(")
    schema = f"seed_stand_in_{os.getpid()}"
    sql.q(f"CREATE SCHEMA {schema}")
    try:
        sql.q(f"CREATE DOMAIN {schema}.vector AS float4[]")  # the stand-in for pgvector's type
        sql.q(f"SET search_path = {schema}, public")
        res = run_block(sql, SUMMARY, "Usage Examples > Advanced Patterns")
        assert res("CREATE FUNCTION smart_route(") == []

        def smart(task: str, priority: str) -> dict[str, Any]:
            return decision(sql.one("SELECT smart_route(embedding::vector, %s, %s) FROM requests WHERE id = 1",
                                    (task, priority)))

        d = smart("coding", "low")  # cost objective, but only gpt-4 has 'coding'
        assert_routed(d, "gpt-4", cost=GPT4["cost"], latency=GPT4["latency"], quality=GPT4["quality"])
        assert d["optimize_for"] == "cost"
        assert [(a["agent_name"], a["reason"]) for a in d["alternatives"]] == [
            ("gpt-3.5-turbo", "missing capability: coding")]
        d = smart("other", "low")  # no capability required (an empty array): the cheaper one
        assert d["agent_name"] == "gpt-3.5-turbo" and d["optimize_for"] == "cost"
        d = smart("other", "critical")  # quality first
        assert d["agent_name"] == "gpt-4" and d["optimize_for"] == "quality"
        d = smart("writing", "normal")  # nobody writes: not routed, and says why
        assert d["routed"] is False and d["agent_name"] is None and d["optimize_for"] == "balanced"
        assert {a["reason"] for a in d["alternatives"]} == {"missing capability: writing"}
        # Batch processing: every unprocessed request, balanced -> gpt-4 (0.2 better quality is worth
        # more than its 15x price under "balanced": 0.95 - 0.1*log10(15) - 0.05*log10(500/150) > 0.75).
        rows = res("AS agent")
        assert sorted((r["id"], r["agent"]) for r in rows) == [(1, "gpt-4"), (2, "gpt-4"), (3, "gpt-4")]
    finally:
        sql.q("SET search_path TO DEFAULT")
        sql.q(f"DROP SCHEMA {schema} CASCADE")


def test_summary_agent_health_monitoring(sql: SQL) -> None:
    run_block(sql, SUMMARY, "Usage Examples > Basic Routing", only="SELECT ruvector_register_agent(")
    sql.q("SELECT ruvector_register_agent('slow-tool', 'tool', ARRAY['search'], 0.001, 200.0, 0.8)")
    assert run_block(sql, SUMMARY, "Monitoring > Agent Health")("FROM ruvector_list_agents()") == []  # no data yet
    for i in range(10):  # gpt-4: 8 of 10 succeed; gpt-3.5-turbo: all fast and fine; slow-tool: slow
        sql.q("SELECT ruvector_update_agent_metrics('gpt-4', 400.0, %s, 0.9)", (i % 5 != 0,))
        sql.q("SELECT ruvector_update_agent_metrics('gpt-3.5-turbo', 120.0, true, 0.7)")
    sql.q("SELECT ruvector_update_agent_metrics('slow-tool', 1500.0, true)")
    sql.q("SELECT ruvector_update_agent_metrics('slow-tool', 1700.0, true)")
    rows = run_block(sql, SUMMARY, "Monitoring > Agent Health")("FROM ruvector_list_agents()")
    assert rows == [
        {"name": "gpt-4", "success_rate": pytest.approx(0.8), "avg_latency_ms": pytest.approx(400.0),
         "quality_score": pytest.approx(0.95)},
        {"name": "slow-tool", "success_rate": pytest.approx(1.0), "avg_latency_ms": pytest.approx(1600.0),
         "quality_score": pytest.approx(0.8)},
    ]


def test_summary_routing_statistics(sql: SQL) -> None:
    [row] = run_block(sql, SUMMARY, "Monitoring > Routing Statistics")("ruvector_routing_stats()")
    s = row["ruvector_routing_stats"]
    assert (s["total_agents"], s["active_agents"], s["total_requests"], s["average_quality"]) == (0, 0, 0, None)
    run_block(sql, SUMMARY, "Usage Examples > Basic Routing", only="SELECT ruvector_register_agent(")
    sql.q("SELECT ruvector_set_agent_active('gpt-3.5-turbo', false)")
    sql.q("SELECT ruvector_update_agent_metrics('gpt-4', 450.0, true, 0.9)")
    sql.q("SELECT ruvector_update_agent_metrics('gpt-4', 550.0, false)")
    [row] = run_block(sql, SUMMARY, "Monitoring > Routing Statistics")("ruvector_routing_stats()")
    s = row["ruvector_routing_stats"]
    assert s["total_agents"] == 2 and s["active_agents"] == 1
    assert s["total_requests"] == 2 and s["outcomes"] == 2
    assert s["average_quality"] == pytest.approx((0.95 + 0.75) / 2)
    assert s["success_rate"] == pytest.approx(0.5) and s["observed_quality"] == pytest.approx(0.9)
    assert s["open_circuits"] == 0 and s["model_version"]


def test_summary_quick_start(sql: SQL) -> None:
    make_requests(sql)
    res = run_block(sql, SUMMARY, "Quick Start")
    assert res("'gpt-4', 'llm', ARRAY['coding']") == [{"ruvector_register_agent": True}]
    assert res("'gpt-3.5', 'llm', ARRAY['general']") == [{"ruvector_register_agent": True}]
    [row] = res("(SELECT embedding FROM requests WHERE id = 1)")
    d = decision(row["ruvector_route"])
    assert_routed(d, "gpt-4", cost=GPT4["cost"], latency=GPT4["latency"], quality=GPT4["quality"])
    assert d["optimize_for"] == "balanced"
    assert [(a["agent_name"], a["feasible"]) for a in d["alternatives"]] == [("gpt-3.5", True)]
    assert res("ruvector_update_agent_metrics('gpt-4', 450.0, true, 0.92)") == [
        {"ruvector_update_agent_metrics": True}]
    agents = {r["name"]: r for r in res("SELECT * FROM ruvector_list_agents()")}
    assert set(agents) == {"gpt-4", "gpt-3.5"}
    g = agents["gpt-4"]
    assert (g["agent_type"], g["capabilities"], g["cost_per_request"], g["quality_score"], g["is_active"]) == (
        "llm", ["coding"], pytest.approx(0.03), pytest.approx(0.95), True)
    assert (g["total_requests"], g["success_rate"], g["avg_latency_ms"]) == (1, pytest.approx(1.0), pytest.approx(450))
    g = agents["gpt-3.5"]  # nothing observed yet: the declared latency, no success rate
    assert (g["total_requests"], g["success_rate"], g["avg_latency_ms"]) == (0, None, pytest.approx(150.0))
    [row] = res("SELECT ruvector_routing_stats()")
    s = row["ruvector_routing_stats"]
    assert (s["total_agents"], s["active_agents"], s["total_requests"], s["decisions"]) == (2, 2, 1, 1)
    assert s["observed_quality"] == pytest.approx(0.92)


def test_plan_agent_registration(sql: SQL) -> None:
    res = run_block(sql, PLAN, "SQL Interface > Agent Registration")
    for name in ("'gpt-4'", "'claude-3-haiku'", "'code-specialist'"):
        assert res(f"name := {name}") == [{"ruvector_register_agent": True}]
    agents = {r["name"]: r for r in res("SELECT * FROM ruvector_list_agents()")}
    assert list(agents) == ["claude-3-haiku", "code-specialist", "gpt-4"]
    g = agents["gpt-4"]
    assert g["agent_type"] == "llm" and g["capabilities"] == ["reasoning", "code", "analysis", "creative"]
    assert (g["cost_per_1k_input_tokens"], g["cost_per_1k_output_tokens"], g["cost_per_request"]) == (
        pytest.approx(0.03), pytest.approx(0.03), 0.0)
    assert (g["avg_latency_ms"], g["quality_score"]) == (pytest.approx(2500.0), pytest.approx(0.95))
    assert g["metadata"] == {"provider": "openai", "context_window": 128000}
    h = agents["claude-3-haiku"]
    assert (h["cost_per_1k_input_tokens"], h["avg_latency_ms"], h["quality_score"]) == (
        pytest.approx(0.00025), pytest.approx(400.0), pytest.approx(0.80))
    assert h["metadata"]["provider"] == "anthropic"
    c = agents["code-specialist"]
    assert (c["agent_type"], c["cost_per_request"], c["cost_per_1k_input_tokens"], c["avg_latency_ms"]) == (
        "tool", pytest.approx(0.001), 0.0, pytest.approx(100.0))
    assert c["metadata"] == {} and c["is_active"] is True


def tokens_cost(text: str, per_1k: float, typical_output_tokens: int = 256) -> float:
    """routerd's estimate: (input tokens = ceil(chars / 4)) + typical output tokens, at the 1k price."""
    return (-(-len(text) // 4) + typical_output_tokens) / 1000 * per_1k


def test_plan_basic_routing(sql: SQL) -> None:
    run_block(sql, PLAN, "SQL Interface > Agent Registration")
    res = run_block(sql, PLAN, "SQL Interface > Basic Routing")
    # Cost-optimised: claude-3-haiku, as the plan's printed result says (routerd's own estimates).
    [row] = res("'Write a Python function to calculate Fibonacci numbers'")
    assert_routed(row, "claude-3-haiku", latency=400.0, quality=0.80,
                  cost=tokens_cost("Write a Python function to calculate Fibonacci numbers", 0.00025))
    assert row["routed"] is True and -1.0 <= row["similarity_score"] <= 1.0
    assert {a["agent_name"] for a in row["alternatives"]} == {"gpt-4", "code-specialist"}
    # Constrained: only gpt-4 has both reasoning and analysis, and it meets cost, latency and quality.
    [row] = res("'Analyze this complex legal document'")
    assert_routed(row, "gpt-4", latency=2500.0, quality=0.95,
                  cost=tokens_cost("Analyze this complex legal document", 0.03))
    reasons = {a["agent_name"]: a["reason"] for a in row["alternatives"]}
    assert reasons == {"claude-3-haiku": "missing capability: reasoning, analysis",
                       "code-specialist": "missing capability: reasoning, analysis"}
    # Multi-agent pipeline of 3 stages: no capability is required, so the 3 agents by utility, in order (the
    # plan's totals on every row: latency the sum of the stages', quality their product).
    stages = res("ruvector_route_multi(")
    assert [r["stage"] for r in stages] == [1, 2, 3] and all(r["routed"] for r in stages)
    assert {r["agent_name"] for r in stages} == {"gpt-4", "claude-3-haiku", "code-specialist"}
    assert [r["score"] for r in stages] == sorted((r["score"] for r in stages), reverse=True)
    assert len({r["decision_id"] for r in stages}) == 1
    for r in stages:
        assert r["total_cost"] == pytest.approx(sum(s["estimated_cost"] for s in stages))
        assert r["total_latency_ms"] == pytest.approx(sum(s["estimated_latency_ms"] for s in stages))
        assert r["plan_quality"] == pytest.approx(0.95 * 0.80 * 0.90)


PLAN_LATENCY = {"gpt-4": 2500.0, "claude-3-haiku": 400.0, "code-specialist": 100.0}


def route_and_complete(sql: SQL) -> dict[str, list[tuple[float, bool]]]:
    """Traffic for the analytics example: the plan's agents, each forced in turn (excluded_agents), with an
    outcome for most decisions at the agent's declared latency (so later estimates stay the declared ones);
    returns each agent's (cost, success) outcomes."""
    names = list(PLAN_LATENCY)
    done: dict[str, list[tuple[float, bool]]] = {n: [] for n in names}
    for i in range(12):
        agent = names[i % 3]
        [row] = sql.dicts("SELECT * FROM ruvector_route(request := %s, excluded_agents := %s)",
                          (f"request {i}", [n for n in names if n != agent]))
        assert row["agent_name"] == agent
        if i % 4 != 3:
            cost, ok = 0.001 * (i + 1), True
            sql.q("SELECT tinydancer.record_outcome(%s, %s, %s, NULL, %s)",
                  (row["decision_id"], PLAN_LATENCY[agent], ok, cost))
            done[agent].append((cost, ok))
    return done


def test_plan_cost_optimization(sql: SQL) -> None:
    run_block(sql, PLAN, "SQL Interface > Agent Registration")
    done = route_and_complete(sql)
    res = run_block(sql, PLAN, "SQL Interface > Cost Optimization")
    # Analytics of the last 7 days by agent, in the seed's columns: each agent's 4 decisions, the costs and
    # success rate of its outcomes.
    rows = res("ruvector_routing_analytics(")
    assert [r["agent"] for r in rows] == sorted(done)
    for r in rows:
        outcomes = done[r["agent"]]
        assert r["total_requests"] == 4 and r["total_cost"] == pytest.approx(sum(c for c, _ in outcomes))
        assert r["success_rate"] == pytest.approx(sum(ok for _, ok in outcomes) / len(outcomes))
        assert r["avg_latency_ms"] == pytest.approx(PLAN_LATENCY[r["agent"]])
    # The monthly budget over the same mix: only code-specialist meets quality >= 0.85 and latency <= 2000 ms
    # (gpt-4 is too slow, claude-3-haiku not good enough), so the whole allocation is its own.
    [row] = res("ruvector_optimize_budget(")
    plan = row["ruvector_optimize_budget"]
    assert (plan["total_budget"], plan["period_days"], plan["mix_requests"]) == (100.0, 30, 12)
    assert list(plan["allocations"]) == ["code-specialist"]
    assert plan["allocations"]["code-specialist"] == pytest.approx(plan["projected_spend"])
    assert 0 < plan["projected_spend"] <= 100 and plan["feasible"] is True and plan["unmet_requests"] == 0
    assert plan["binding"] is False and plan["willingness_to_pay"] is None  # 100 USD buys every request's best
    # Quality per dollar within a $10 budget: claude-3-haiku (0.80 for ~$0.00007) beats
    # code-specialist (0.90 for $0.001) and gpt-4 (0.95 for ~$0.008).
    [row] = res("'Summarize this article'")
    assert_routed(row, "claude-3-haiku", latency=400.0, quality=0.80,
                  cost=tokens_cost("Summarize this article", 0.00025))
    assert "quality_per_dollar" in row["reasoning"]
    # The budget is applied: with less left than any agent costs, nothing is routed, and it says so.
    [row] = sql.dicts("SELECT * FROM ruvector_route(request := 'Summarize this article', budget_remaining := 0.00001, "
                      "optimize_for := 'quality_per_dollar')")
    assert row["routed"] is False and row["agent_name"] is None and row["decision_id"]
    assert {a["agent_name"]: a["feasible"] for a in row["alternatives"]} == {
        "claude-3-haiku": False, "code-specialist": False, "gpt-4": False}
    assert all("remaining budget" in a["reason"] for a in row["alternatives"])


def test_plan_batch_routing(sql: SQL) -> None:
    """The plan's batch example (its classification statement: tests/sql/test_seed_semantic.py). optimize_for
    'total_cost' with no batch budget is the lowest total cost: each request by the cost objective."""
    run_block(sql, PLAN, "SQL Interface > Agent Registration")
    rows = run_block(sql, PLAN, "SQL Interface > Batch Routing", only="ruvector_batch_route(")("ruvector_batch_route(")
    texts = ["Simple question 1", "Complex analysis task", "Code generation request"]
    assert [(r["position"], r["request"]) for r in rows] == list(enumerate(texts, 1))
    for r, text in zip(rows, texts, strict=True):  # claude-3-haiku: the cheapest for each of them
        assert (r["routed"], r["agent_name"]) == (True, "claude-3-haiku") and "claude-3-haiku" in r["reasoning"]
        assert (r["estimated_cost"], r["estimated_latency_ms"], r["expected_quality"]) == (
            pytest.approx(tokens_cost(text, 0.00025)), pytest.approx(400.0), pytest.approx(0.80))
        assert 0 < r["confidence"] <= 1
        assert r["total_cost"] == pytest.approx(sum(tokens_cost(t, 0.00025) for t in texts))
    assert len({r["decision_id"] for r in rows}) == 3
    # With a batch budget, the best total quality it affords: code-specialist's 0.90 for $0.001 beats haiku's
    # 0.80 for every request once $0.003 is there; money for one upgrade to gpt-4 (0.95) buys it for the
    # shortest request, where the upgrade costs least.
    agents = [r["agent_name"] for r in sql.dicts("SELECT * FROM ruvector_batch_route(%s, 'total_cost', 0.00301)",
                                                 (texts,))]
    assert agents == ["code-specialist"] * 3
    budget = 0.002 + tokens_cost(texts[0], 0.03) * 1.001
    rows = sql.dicts("SELECT * FROM ruvector_batch_route(%s, 'total_cost', %s)", (texts, budget))
    assert [r["agent_name"] for r in rows] == ["gpt-4", "code-specialist", "code-specialist"]
    assert rows[0]["total_cost"] <= budget and rows[0]["total_quality"] == pytest.approx(0.95 + 0.90 + 0.90)


# The plan's Semantic Routing block and its batch classification: tests/sql/test_seed_semantic.py.


# ---------------------------------------------------------------------------------------------
# The functions' own behaviour and errors
# ---------------------------------------------------------------------------------------------

EMB = "(SELECT embedding FROM requests WHERE id = 1)"


def register_basic(sql: SQL) -> None:
    sql.q("SELECT ruvector_register_agent('gpt-4', 'llm', ARRAY['coding', 'reasoning'], 0.03, 500.0, 0.95)")
    sql.q("SELECT ruvector_register_agent('gpt-3.5-turbo', 'llm', ARRAY['general', 'fast'], 0.002, 150.0, 0.75)")


def test_route_constraints_unknown_key_is_an_error_with_a_hint(sql: SQL) -> None:
    make_requests(sql)
    register_basic(sql)
    with pytest.raises(errors.InvalidParameterValue) as e:
        sql.q(f"SELECT ruvector_route({EMB}, 'cost', '{{\"max_costs\": 0.01, \"min_quality\": 0.5}}')")
    assert e.value.diag.message_primary == "ruvector_route: constraints: unknown key: max_costs"
    hint = e.value.diag.message_hint or ""
    for key in ("required_capabilities", "excluded_agents", "max_cost", "max_latency_ms", "min_quality"):
        assert key in hint
    with pytest.raises(errors.InvalidParameterValue, match="must be a number"):
        sql.q(f"SELECT ruvector_route({EMB}, 'cost', '{{\"max_cost\": \"cheap\"}}')")
    with pytest.raises(errors.InvalidParameterValue, match="must be an array of strings"):
        sql.q(f"SELECT ruvector_route({EMB}, 'cost', '{{\"required_capabilities\": \"coding\"}}')")
    with pytest.raises(errors.InvalidParameterValue, match="expected a JSON object"):
        sql.q(f"SELECT ruvector_route({EMB}, 'cost', '[1]')")
    # routerd's own validation reaches SQL as an error too: an unknown objective is not "balanced".
    with pytest.raises(psycopg.Error, match="unknown objective"):
        sql.q(f"SELECT ruvector_route({EMB}, 'cheapest', NULL)")
    with pytest.raises(psycopg.Error, match="384 dimensions"):
        sql.q("SELECT ruvector_route(ARRAY[0.1, 0.2]::float4[], 'cost', NULL)")
    with pytest.raises(errors.NullValueNotAllowed):
        sql.q("SELECT ruvector_route(NULL::float4[], 'cost', NULL)")


def test_route_applies_each_constraint(sql: SQL) -> None:
    make_requests(sql)
    register_basic(sql)

    def route(objective: str | None, constraints: str | None) -> dict[str, Any]:
        return decision(sql.one(f"SELECT ruvector_route({EMB}, %s, %s::jsonb)", (objective, constraints)))

    assert route("cost", None)["agent_name"] == "gpt-3.5-turbo"
    assert route("cost", '{"required_capabilities": ["coding"]}')["agent_name"] == "gpt-4"
    assert route("quality", '{"excluded_agents": ["gpt-4"]}')["agent_name"] == "gpt-3.5-turbo"
    assert route("quality", '{"max_latency_ms": 200}')["agent_name"] == "gpt-3.5-turbo"
    assert route("cost", '{"min_quality": 0.9}')["agent_name"] == "gpt-4"
    assert route("quality", '{"max_cost": 0.01}')["agent_name"] == "gpt-3.5-turbo"
    # JSON nulls and empty arrays are "no constraint"; a NULL objective is balanced.
    d = route(None, '{"max_cost": null, "required_capabilities": [], "excluded_agents": null}')
    assert d["agent_name"] == "gpt-4" and d["optimize_for"] == "balanced"
    assert route("quality", "{}")["agent_name"] == "gpt-4"
    # willingness_to_pay: $0.01 per unit of quality makes gpt-4's extra $0.028 too dear for +0.2
    assert route("quality", '{"willingness_to_pay": 0.01}')["agent_name"] == "gpt-3.5-turbo"
    assert route("quality", '{"willingness_to_pay": 10}')["agent_name"] == "gpt-4"


def test_route_when_nothing_is_feasible_says_so(sql: SQL) -> None:
    make_requests(sql)
    d = decision(sql.one(f"SELECT ruvector_route({EMB}, 'balanced', NULL)"))  # no agents at all
    assert d["routed"] is False and d["agent_name"] is None and d["reasoning"] == "no agent is registered"
    register_basic(sql)
    d = decision(sql.one(f"SELECT ruvector_route({EMB}, 'cost', "
                         "'{\"required_capabilities\": [\"coding\"], \"max_latency_ms\": 300}')"))
    assert d["routed"] is False and d["agent_name"] is None
    assert d["confidence"] is None and d["estimated_cost"] is None and d["decision_id"]
    assert d["reasoning"].startswith("no feasible agent among 2")
    assert {a["agent_name"]: a["reason"] for a in d["alternatives"]} == {
        "gpt-3.5-turbo": "missing capability: coding",
        "gpt-4": "expected latency 500 ms exceeds max_latency_ms 300"}
    # The text form: one row that says so.
    [row] = sql.dicts("SELECT * FROM ruvector_route('fix my code', 'cost', ARRAY['coding'], max_latency_ms := 300)")
    assert (row["routed"], row["agent_name"], row["confidence"]) == (False, None, None)
    assert "no feasible agent" in row["reasoning"]


def test_route_text_form(sql: SQL) -> None:
    register_basic(sql)
    rows = sql.dicts("SELECT * FROM ruvector_route('Refactor this function')")  # positional, defaults
    assert [r["agent_name"] for r in rows] == ["gpt-4"]
    assert list(rows[0]) == ["agent_name", "confidence", "estimated_cost", "estimated_latency_ms",
                             "expected_quality", "similarity_score", "reasoning", "alternatives", "decision_id",
                             "routed", "model_version"]
    row = sql.dicts("SELECT * FROM ruvector_route(request := 'Refactor this function', optimize_for := NULL, "
                    "excluded_agents := ARRAY['gpt-4'])")[0]
    assert row["agent_name"] == "gpt-3.5-turbo"
    with pytest.raises(errors.NullValueNotAllowed):
        sql.q("SELECT * FROM ruvector_route(request := NULL)")


def test_register_get_list_find_set_active_remove(sql: SQL) -> None:
    make_requests(sql)
    register_basic(sql)
    sql.q("SELECT ruvector_register_agent('coder-2', 'LLM', ARRAY['coding', 'translation'], 0.08, 250.0, 0.90)")
    with pytest.raises(psycopg.Error, match="already"):
        sql.q("SELECT ruvector_register_agent('gpt-4', 'llm', ARRAY['x'], 0.01, 100.0, 0.5)")
    with pytest.raises(psycopg.Error, match="quality"):
        sql.q("SELECT ruvector_register_agent('bad', 'llm', ARRAY['x'], 0.01, 100.0, 1.5)")
    with pytest.raises(psycopg.Error, match="unknown type"):
        sql.q("SELECT ruvector_register_agent('bad', 'robot', ARRAY['x'], 0.01, 100.0, 0.5)")
    a = sql.one("SELECT ruvector_get_agent('coder-2')")
    assert (a["name"], a["agent_type"], a["capabilities"], a["is_active"]) == (
        "coder-2", "llm", ["coding", "translation"], True)
    assert a["cost_model"]["per_request"] == pytest.approx(0.08)
    assert a["performance"] == {"avg_latency_ms": 250, "p95_latency_ms": None, "p99_latency_ms": None,
                                "quality_score": 0.9, "success_rate": None, "total_requests": 0}
    with pytest.raises(errors.NoDataFound) as e:
        sql.q("SELECT ruvector_get_agent('nobody')")
    assert e.value.diag.message_primary == 'agent "nobody" not found'
    assert [r["name"] for r in sql.dicts("SELECT * FROM ruvector_list_agents()")] == [
        "coder-2", "gpt-3.5-turbo", "gpt-4"]
    assert sql.dicts("SELECT * FROM ruvector_find_agents_by_capability('coding', 5)") == [
        {"name": "gpt-4", "quality_score": 0.95, "avg_latency_ms": 500.0, "cost_per_request": 0.03},
        {"name": "coder-2", "quality_score": 0.9, "avg_latency_ms": 250.0, "cost_per_request": 0.08}]
    assert sql.q("SELECT name FROM ruvector_find_agents_by_capability('coding', 1)") == [("gpt-4",)]
    assert sql.q("SELECT name FROM ruvector_find_agents_by_capability('coding')") == [("gpt-4",), ("coder-2",)]
    assert sql.q("SELECT name FROM ruvector_find_agents_by_capability('juggling')") == []
    with pytest.raises(errors.InvalidParameterValue):
        sql.q("SELECT * FROM ruvector_find_agents_by_capability('coding', -1)")
    # Inactive agents are listed as such and never routed to.
    assert sql.one("SELECT ruvector_set_agent_active('gpt-4', false)") is True
    assert sql.one("SELECT ruvector_get_agent('gpt-4') -> 'is_active'") is False
    d = decision(sql.one(f"SELECT ruvector_route({EMB}, 'quality', '{{\"required_capabilities\": [\"coding\"]}}')"))
    assert d["agent_name"] == "coder-2"
    assert {a["agent_name"]: a["reason"] for a in d["alternatives"]}["gpt-4"] == "inactive"
    assert sql.one("SELECT ruvector_set_agent_active('gpt-4', true)") is True
    d = decision(sql.one(f"SELECT ruvector_route({EMB}, 'quality', '{{\"required_capabilities\": [\"coding\"]}}')"))
    assert d["agent_name"] == "gpt-4"
    with pytest.raises(errors.NoDataFound):
        sql.q("SELECT ruvector_set_agent_active('nobody', true)")
    # Removal.
    assert sql.one("SELECT ruvector_remove_agent('gpt-4')") is True
    with pytest.raises(errors.NoDataFound):
        sql.q("SELECT ruvector_get_agent('gpt-4')")
    with pytest.raises(errors.NoDataFound):
        sql.q("SELECT ruvector_remove_agent('gpt-4')")
    assert [r["name"] for r in sql.dicts("SELECT name FROM ruvector_list_agents()")] == ["coder-2", "gpt-3.5-turbo"]


def test_register_named_form(sql: SQL) -> None:
    # Positional six arguments always mean the summary's form (cost per request), never the plan's.
    sql.q("SELECT ruvector_register_agent('a', 'llm', ARRAY['x'], 0.5, 100, 0.5)")
    a = sql.one("SELECT ruvector_get_agent('a')")
    assert (a["cost_per_call"], a["cost_per_1k_input_tokens"], a["latency_prior_ms"]) == (0.5, 0, 100)
    sql.q("SELECT ruvector_register_agent(name := 'b', agent_type := 'api', capabilities := ARRAY['y'], "
          "cost_per_call := 0.002, cost_per_1k_tokens := 0.01, avg_latency_ms := 80, quality_score := 0.7)")
    b = sql.one("SELECT ruvector_get_agent('b')")
    assert (b["cost_per_call"], b["cost_per_1k_input_tokens"], b["cost_per_1k_output_tokens"]) == (0.002, 0.01, 0.01)
    assert (b["agent_type"], b["latency_prior_ms"], b["quality_score"], b["metadata"]) == ("api", 80, 0.7, {})
    with pytest.raises(errors.NullValueNotAllowed, match="avg_latency_ms is required"):
        sql.q("SELECT ruvector_register_agent(name := 'c', agent_type := 'llm', capabilities := ARRAY['y'], "
              "quality_score := 0.7)")
    with pytest.raises(errors.InvalidParameterValue, match="metadata must be a JSON object"):
        sql.q("SELECT ruvector_register_agent(name := 'c', agent_type := 'llm', capabilities := ARRAY['y'], "
              "avg_latency_ms := 10, quality_score := 0.7, metadata := '[1]')")
    assert sql.q("SELECT name FROM ruvector_list_agents()") == [("a",), ("b",)]


def test_register_agent_full(sql: SQL) -> None:
    config = {"name": "gpt-4", "agent_type": "llm", "capabilities": ["code_generation", "translation"],
              "cost_model": {"per_request": 0.03, "per_token": 0.00006},
              "performance": {"avg_latency_ms": 500.0, "quality_score": 0.95},
              "metadata": {"provider": "openai"}, "is_active": False}
    assert sql.one("SELECT ruvector_register_agent_full(%s::jsonb)", (json.dumps(config),)) is True
    a = sql.one("SELECT ruvector_get_agent('gpt-4')")
    assert (a["cost_per_call"], a["cost_per_1k_input_tokens"], a["cost_per_1k_output_tokens"]) == (0.03, 0.06, 0.06)
    assert (a["latency_prior_ms"], a["quality_score"], a["is_active"], a["metadata"]) == (
        500, 0.95, False, {"provider": "openai"})
    bad = [
        ({"name": "x", "agent_type": "llm", "colour": "red"}, "unknown key: colour"),
        ({"name": "x", "cost_model": {"per_month": 3}}, "cost_model: unknown key: per_month"),
        ({"name": "x", "performance": {"avg_latency_ms": 1, "quality_score": 0.5, "success_rate": 0.99}},
         "performance.success_rate is observed by routerd"),
        ({"name": "x", "cost_model": {"per_request": 1, "cost_per_call": 1}}, "the same price twice"),
        ({"agent_type": "llm"}, '"name" (a string) is required'),
        ({"name": "x", "capabilities": "coding"}, "must be an array of strings"),
    ]
    for cfg, message in bad:
        with pytest.raises(errors.InvalidParameterValue, match=re.escape(message)) as e:
            sql.q("SELECT ruvector_register_agent_full(%s::jsonb)", (json.dumps(cfg),))
        if "unknown key" in message:
            assert "Valid keys" in (e.value.diag.message_hint or "")
    assert sql.q("SELECT name FROM ruvector_list_agents()") == [("gpt-4",)]


def test_update_agent_metrics_changes_success_rate_and_latency(sql: SQL) -> None:
    register_basic(sql)
    before = sql.dicts("SELECT success_rate, avg_latency_ms, total_requests FROM ruvector_list_agents() "
                       "WHERE name = 'gpt-4'")
    assert before == [{"success_rate": None, "avg_latency_ms": 500.0, "total_requests": 0}]
    for latency, ok, quality in ((300.0, True, 0.9), (500.0, False, None), (400.0, True, 0.8), (200.0, True, None)):
        assert sql.one("SELECT ruvector_update_agent_metrics('gpt-4', %s, %s, %s)", (latency, ok, quality)) is True
    after = sql.dicts("SELECT success_rate, avg_latency_ms, total_requests FROM ruvector_list_agents() "
                      "WHERE name = 'gpt-4'")
    assert after == [{"success_rate": pytest.approx(0.75), "avg_latency_ms": pytest.approx(350.0),
                      "total_requests": 4}]
    # the three-argument call (quality is optional) and the outcomes it leaves in routerd's log
    assert sql.one("SELECT ruvector_update_agent_metrics('gpt-3.5-turbo', 100.0, true)") is True
    assert sql.q("SELECT agent_name, latency_ms, success, quality FROM tinydancer.outcomes ORDER BY recorded_at") == [
        ("gpt-4", 300.0, True, 0.9), ("gpt-4", 500.0, False, None), ("gpt-4", 400.0, True, 0.8),
        ("gpt-4", 200.0, True, None), ("gpt-3.5-turbo", 100.0, True, None)]
    with pytest.raises(psycopg.Error, match="nobody"):
        sql.q("SELECT ruvector_update_agent_metrics('nobody', 100.0, true, 0.5)")
    with pytest.raises(psycopg.Error, match="quality"):
        sql.q("SELECT ruvector_update_agent_metrics('gpt-4', 100.0, true, 1.5)")


def test_clear_agents(sql: SQL) -> None:
    assert sql.one("SELECT ruvector_clear_agents()") is True  # nothing to clear is fine
    register_basic(sql)
    sql.q("SELECT ruvector_update_agent_metrics('gpt-4', 100.0, true)")
    assert sql.one("SELECT ruvector_clear_agents()") is True
    assert sql.q("SELECT * FROM ruvector_list_agents()") == []
    s = sql.one("SELECT ruvector_routing_stats()")
    assert (s["total_agents"], s["active_agents"], s["outcomes"]) == (0, 0, 1)  # the log is kept
    register_basic(sql)  # the names are free again
    assert len(sql.q("SELECT * FROM ruvector_list_agents()")) == 2


def test_install_script_is_rerunnable(sql: SQL) -> None:
    """In a scratch database: sql/ruvector.sql runs again over itself, and its functions survive a
    re-run of sql/tinydancer.sql (which drops and recreates the tinydancer schema)."""
    db = f"ruvector_rerun_{os.getpid()}"
    target = sql.routerd.target
    sql.q(f"DROP DATABASE IF EXISTS {db}")
    sql.q(f"CREATE DATABASE {db}")
    try:
        install(sql.cluster, target, dbname=db)  # tinydancer.sql, then ruvector.sql
        install(sql.cluster, target, dbname=db, scripts=[SQL_DIR / "ruvector.sql"])
        install(sql.cluster, target, dbname=db, scripts=[SQL_DIR / "tinydancer.sql"])
        with psycopg.connect(sql.cluster.url(db), autocommit=True) as conn:
            conn.execute("SELECT ruvector_register_agent('gpt-4', 'llm', ARRAY['coding'], 0.03, 500.0, 0.95)")
            assert conn.execute("SELECT ruvector_get_agent('gpt-4') ->> 'name'").fetchone() == ("gpt-4",)
            assert conn.execute("SELECT agent_name FROM ruvector_route('Refactor this function')").fetchall() == [
                ("gpt-4",)]
    finally:
        sql.q(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
