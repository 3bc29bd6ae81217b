-- 0005: budgets and what decisions reserve against them; tags, the counterfactual cost and
-- cancellation on the decision log.

-- window_kind: day | week | month | total | rolling (window_seconds set only for rolling).
-- scope: 'global', 'agent:<name>' or 'tag:<tag>'. mode: hard | soft. willingness_to_pay: set by
-- OptimizeBudget apply_to_budget (requests it covers route with it), NULL for none.
CREATE TABLE budgets (
    name               TEXT PRIMARY KEY,
    amount             DOUBLE PRECISION NOT NULL,
    window_kind        TEXT NOT NULL,
    window_seconds     DOUBLE PRECISION,
    scope              TEXT NOT NULL,
    mode               TEXT NOT NULL,
    willingness_to_pay DOUBLE PRECISION,
    created_at         DOUBLE PRECISION NOT NULL,
    updated_at         DOUBLE PRECISION NOT NULL
);

-- One row per (decision, budget it was charged to), written in the decision's transaction.
-- state: reserved (estimate charged, no outcome yet) | settled (actual = the outcomes' costs) |
-- cancelled (released). charged_at is the decision's time: the window it counts in (window_start,
-- NULL for a rolling window). nano is what the charge counts for now, in whole nano-dollars (the
-- estimate's, then the actual cost's, 0 once cancelled), so sums are exact. A decision id
-- 'outcome:<outcome_id>' is spend an outcome reported without a decision (settled at once).
-- No foreign key to budgets: deleting a budget drops its charges explicitly.
CREATE TABLE budget_charges (
    decision_id  TEXT NOT NULL,
    budget_name  TEXT NOT NULL,
    charged_at   DOUBLE PRECISION NOT NULL,
    estimate     DOUBLE PRECISION NOT NULL,
    actual       DOUBLE PRECISION,
    state        TEXT NOT NULL,
    settled_at   DOUBLE PRECISION,
    window_start DOUBLE PRECISION,
    nano         BIGINT NOT NULL,
    PRIMARY KEY (decision_id, budget_name)
);
CREATE INDEX budget_charges_budget_idx ON budget_charges (budget_name, charged_at);

-- What a budget's calendar (or total) window has used, nano-dollars: the sum of its charges' nano,
-- kept by the same transactions that change them. Every routerd (replicas of one PostgreSQL store
-- included) checks a hard budget against this row in the decision's transaction (an upsert: the
-- row lock orders concurrent commits), so decisions never together pass a hard budget.
CREATE TABLE budget_usage (
    budget_name  TEXT NOT NULL,
    window_start DOUBLE PRECISION NOT NULL,
    used_nano    BIGINT NOT NULL,
    PRIMARY KEY (budget_name, window_start)
);

-- A decision's tags, one row each (analytics group by tag with a join, the same in both dialects).
CREATE TABLE decision_tags (
    decision_id TEXT NOT NULL,
    tag         TEXT NOT NULL,
    PRIMARY KEY (decision_id, tag)
);
CREATE INDEX decision_tags_tag_idx ON decision_tags (tag);

-- The estimated cost of the request on the agent of highest expected quality (the analytics'
-- counterfactual), and when the decision was cancelled (its reservations released).
ALTER TABLE decisions ADD COLUMN reference_cost DOUBLE PRECISION;
ALTER TABLE decisions ADD COLUMN cancelled_at DOUBLE PRECISION;
ALTER TABLE decisions ADD COLUMN tags TEXT
