-- 0003: the learned quality model's versions and the request a decision was made for.

-- One row per training run. `weights` is the model file (an .npz: its arrays and a JSON header with
-- the embedder, the feature recipe, the agents and their evidence); NULL until training ends.
-- `status`: training | live | candidate (trained, not promoted) | rejected (worse than what was
-- live) | failed; `metrics` is JSON. Which version is live is also the row whose status is 'live'
-- (at most one: the engine changes it in one transaction).
CREATE TABLE models (
    version      BIGINT PRIMARY KEY,
    created_at   DOUBLE PRECISION NOT NULL,
    finished_at  DOUBLE PRECISION,
    promoted_at  DOUBLE PRECISION,
    status       TEXT NOT NULL,
    source       TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    embedder     TEXT NOT NULL,
    dim          BIGINT NOT NULL,
    features     TEXT NOT NULL,
    agents       TEXT NOT NULL,
    metrics      TEXT NOT NULL,
    reason       TEXT NOT NULL,
    parent       BIGINT,
    weights      BYTEA
);

-- The caller's embedding (float32 little-endian) when it sent one instead of (or with) the text, so
-- the outcome log can train the model on the request the decision saw.
ALTER TABLE decisions ADD COLUMN request_embedding BYTEA
