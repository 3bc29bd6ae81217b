-- 0002: semantic routes, the store's metadata (which embedder wrote its vectors, the routes'
-- confidence calibration) and the route a decision matched.

-- Utterances and conditions are JSON; vectors are the utterances' unit vectors, float32
-- little-endian, row-major (utterances x dim), computed by `embedder`. (SQLite stores BYTEA
-- values as blobs.)
CREATE TABLE routes (
    name          TEXT PRIMARY KEY,
    description   TEXT NOT NULL,
    target_agent  TEXT,
    priority      BIGINT NOT NULL,
    threshold     DOUBLE PRECISION,
    fitted        BOOLEAN NOT NULL,
    group_name    TEXT,
    conditions    TEXT NOT NULL,
    utterances    TEXT NOT NULL,
    embedder      TEXT NOT NULL,
    dim           BIGINT NOT NULL,
    vectors       BYTEA NOT NULL,
    created_at    DOUBLE PRECISION NOT NULL,
    updated_at    DOUBLE PRECISION NOT NULL
);

CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

ALTER TABLE decisions ADD COLUMN route_name TEXT
