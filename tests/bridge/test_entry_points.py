"""Every way PostgreSQL 15 reaches a foreign table the bridge serves (issue 7 item 1): each
FdwRoutine callback is either implemented or never called (see the table above multicorn_handler
in fdw/bridge/src/scan.c). No statement here may crash the backend (the autouse fixture checks the
server log and the postmaster after each test); unsupported ones fail with a clear ERROR."""

from __future__ import annotations

import re

import psycopg
import pytest

from tests.harness.sql import hook_calls


def store_name(request) -> str:
    return re.sub(r"\W", "_", request.node.name)


def hooks(db, *names: str) -> list[str]:
    return [m.split(" ")[0] for m in db.messages() if m.split(" ")[0] in names]


@pytest.fixture
def ft(db, request):
    """A writable foreign table (rows kept in a per-backend store named after the test), logging hooks."""
    db.table("ep", "id int, name text DEFAULT 'dflt', big bigint", log="1", store=store_name(request))
    db.clear()
    return db


@pytest.fixture
def parts(db, request):
    """A partitioned table: ids 0-99 local, 100-199 in a foreign partition."""
    db.q("DROP TABLE IF EXISTS ep_parts")
    db.q("CREATE TABLE ep_parts (id int, name text, big bigint) PARTITION BY RANGE (id)")
    db.q("CREATE TABLE ep_parts_local PARTITION OF ep_parts FOR VALUES FROM (0) TO (100)")
    db.q("CREATE FOREIGN TABLE ep_parts_remote PARTITION OF ep_parts FOR VALUES FROM (100) TO (200) "
         f"SERVER test_srv OPTIONS (log '1', store '{store_name(request)}_parts')")
    db.clear()
    return db


# -- COPY FROM and tuple routing: BeginForeignInsert / EndForeignInsert ------------------------------

def test_copy_from_stdin_into_foreign_table(ft):
    # this crashed the backend (SIGSEGV: ExecForeignInsert with a NULL ri_FdwState)
    with ft.conn.cursor() as cur, cur.copy("COPY ep (id, name, big) FROM STDIN") as copy:
        copy.write_row((1, "one", 10))
        copy.write_row((2, None, None))
    assert hook_calls(ft, "insert") == [({"id": 1, "name": "one", "big": "10"},),
                                        ({"id": 2, "name": None, "big": None},)]
    assert hooks(ft, "insert", "end_modify") == ["insert", "insert", "end_modify"]
    assert sorted(ft.q("SELECT id, name, big FROM ep")) == [(1, "one", 10), (2, None, None)]


def test_copy_from_applies_defaults_and_reports_errors(ft):
    with ft.conn.cursor() as cur, cur.copy("COPY ep (id) FROM STDIN") as copy:
        copy.write_row((3,))
    assert ft.q("SELECT id, name FROM ep") == [(3, "dflt")]
    ft.table("ep_fail", "id int", log="1", store="ep_fail", fail="insert")
    with pytest.raises(psycopg.errors.InternalError, match="Error in python: ValueError"), \
            ft.conn.cursor() as cur, cur.copy("COPY ep_fail FROM STDIN") as copy:
        copy.write_row((1,))
    assert ft.one("SELECT 1") == 1


def test_copy_from_bulk_only_fdw(db):
    db.q("DROP SERVER IF EXISTS ep_bulk CASCADE")
    db.q("CREATE SERVER ep_bulk FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.BulkOnlyFDW')")
    db.table("ep_bulkonly", "id int, v text", server="ep_bulk")
    db.clear()
    with db.conn.cursor() as cur, cur.copy("COPY ep_bulkonly FROM STDIN") as copy:
        copy.write_row((1, "a"))
    assert db.messages("bulk_insert") == ["bulk_insert [{'id': 1, 'v': 'a'}]"]


def test_copy_to_from_a_foreign_table_is_postgres_error(ft):
    ft.q("INSERT INTO ep VALUES (1, 'a', 1)")
    with pytest.raises(psycopg.errors.WrongObjectType, match="cannot copy from foreign table"):
        ft.q("COPY ep TO STDOUT")
    with ft.conn.cursor() as cur, cur.copy("COPY (SELECT id, name FROM ep) TO STDOUT") as copy:
        assert b"".join(copy) == b"1\ta\n"


def test_insert_routed_into_foreign_partition(parts):
    assert parts.q("INSERT INTO ep_parts VALUES (1, 'local', 1), (150, 'remote', 2), (151, 'r2', NULL) "
                   "RETURNING id, name") == [(1, "local"), (150, "remote"), (151, "r2")]
    assert hook_calls(parts, "insert") == [({"id": 150, "name": "remote", "big": "2"},),
                                           ({"id": 151, "name": "r2", "big": None},)]
    assert hooks(parts, "insert", "end_modify") == ["insert", "insert", "end_modify"]
    assert parts.q("SELECT id FROM ep_parts_local") == [(1,)]
    assert sorted(parts.q("SELECT id, name FROM ep_parts")) == [(1, "local"), (150, "remote"), (151, "r2")]
    # INSERT straight into the foreign partition (a plain foreign table target)
    parts.q("INSERT INTO ep_parts_remote VALUES (152, 'direct', 3)")
    assert parts.one("SELECT count(*) FROM ep_parts WHERE id >= 100") == 3
    # PostgreSQL checks a foreign partition's bounds only when routing: the bridge checks them too
    with pytest.raises(psycopg.errors.CheckViolation, match="violates partition constraint"):
        parts.q("INSERT INTO ep_parts_remote VALUES (5, 'outside the bounds', 3)")
    assert parts.one("SELECT count(*) FROM ep_parts_remote") == 3


def test_copy_routed_into_foreign_partition(parts):
    with parts.conn.cursor() as cur, cur.copy("COPY ep_parts (id, name) FROM STDIN") as copy:
        copy.write_row((2, "local"))
        copy.write_row((160, "remote"))
    assert hook_calls(parts, "insert") == [({"id": 160, "name": "remote", "big": None},)]
    assert sorted(parts.q("SELECT id, name FROM ep_parts")) == [(2, "local"), (160, "remote")]


def test_update_and_delete_through_the_partitioned_table(parts):
    parts.q("INSERT INTO ep_parts VALUES (1, 'l', 1), (150, 'r', 2)")
    parts.clear()
    assert sorted(parts.q("UPDATE ep_parts SET name = name || '!' RETURNING id, name")) == [(1, "l!"), (150, "r!")]
    assert hook_calls(parts, "update") == [(150, {"id": 150, "name": "r!", "big": "2"})]
    parts.clear()
    assert parts.q("DELETE FROM ep_parts WHERE big = 2 RETURNING id, name") == [(150, "r!")]
    assert hook_calls(parts, "delete") == [(150,)]
    assert parts.q("SELECT id, name FROM ep_parts") == [(1, "l!")]


def test_update_moving_rows_between_partitions(parts):
    parts.q("INSERT INTO ep_parts VALUES (1, 'l', 1), (150, 'r', 2)")
    parts.clear()
    # local -> foreign: the row is deleted locally and routed into the foreign partition (pruned
    # from the UPDATE's own targets by WHERE id = 1)
    parts.q("UPDATE ep_parts SET id = 120 WHERE id = 1")
    assert hook_calls(parts, "insert") == [({"id": 120, "name": "l", "big": "1"},)]
    assert sorted(parts.q("SELECT id FROM ep_parts")) == [(120,), (150,)]
    # foreign -> local: PostgreSQL would update the row in place (never moving it out of a foreign
    # partition), leaving it outside the partition's bounds, where pruned scans never look
    parts.clear()
    with pytest.raises(psycopg.errors.CheckViolation, match='cannot move a row out of foreign partition') as exc:
        parts.q("UPDATE ep_parts SET id = 7 WHERE id = 150")
    assert exc.value.diag.message_hint == "DELETE the row and INSERT it through the partitioned table."
    assert hook_calls(parts, "update") == []
    assert sorted(parts.q("SELECT id FROM ep_parts")) == [(120,), (150,)]
    assert parts.q("UPDATE ep_parts SET name = 'still here' WHERE id = 150 RETURNING id, name") == [
        (150, "still here")]


def test_update_routing_into_a_foreign_partition_it_also_updates_is_refused(db, request):
    # only the foreign partition is scanned for the moving row and it is also the routing target
    db.q("DROP TABLE IF EXISTS ep_two")
    db.q("CREATE TABLE ep_two (id int, name text) PARTITION BY LIST (name)")
    db.q("CREATE TABLE ep_two_a PARTITION OF ep_two FOR VALUES IN ('a')")
    db.q("CREATE FOREIGN TABLE ep_two_b PARTITION OF ep_two FOR VALUES IN ('b') "
         f"SERVER test_srv OPTIONS (store '{store_name(request)}')")
    db.q("INSERT INTO ep_two VALUES (1, 'a'), (2, 'b')")
    with pytest.raises(psycopg.errors.FeatureNotSupported,
                       match='cannot route rows into foreign table "ep_two_b", which the same UPDATE modifies'):
        db.q("UPDATE ep_two SET name = 'b'")
    assert sorted(db.q("SELECT id, name FROM ep_two")) == [(1, "a"), (2, "b")]


# -- refused with a clear ERROR --------------------------------------------------------------------

def test_insert_on_conflict_is_refused(ft, parts):
    with pytest.raises(psycopg.errors.FeatureNotSupported, match="ON CONFLICT is not supported") as exc:
        ft.q("INSERT INTO ep VALUES (1, 'a', 1) ON CONFLICT DO NOTHING")
    assert exc.value.diag.message_hint
    assert hook_calls(ft, "insert") == []
    with pytest.raises(psycopg.errors.FeatureNotSupported, match="ON CONFLICT is not supported"):
        parts.q("INSERT INTO ep_parts VALUES (150, 'a', 1) ON CONFLICT DO NOTHING")
    assert parts.q("SELECT * FROM ep_parts") == []
    # DO UPDATE needs a unique index, which a foreign table cannot have: PostgreSQL's own error
    with pytest.raises(psycopg.errors.InvalidColumnReference):
        ft.q("INSERT INTO ep VALUES (1, 'a', 1) ON CONFLICT (id) DO UPDATE SET name = 'b'")
    # EXPLAIN without ANALYZE only plans it
    assert ft.q("EXPLAIN INSERT INTO ep VALUES (1, 'a', 1) ON CONFLICT DO NOTHING")


def test_truncate_is_a_clear_error(ft):
    ft.q("INSERT INTO ep VALUES (1, 'a', 1)")
    with pytest.raises(psycopg.errors.FeatureNotSupported, match='cannot truncate foreign table "ep"'):
        ft.q("TRUNCATE ep")
    assert ft.q("SELECT id FROM ep") == [(1,)]


def test_analyze(ft, parts):
    ft.clear()
    ft.q("ANALYZE ep")
    assert any("skipping \"ep\" --- cannot analyze this foreign table" in m for m in ft.messages())
    parts.q("INSERT INTO ep_parts VALUES (1, 'l', 1)")
    parts.q("ANALYZE ep_parts")  # the foreign child is left out of the sample
    assert parts.one("SELECT count(*) FROM pg_stats WHERE tablename = 'ep_parts'") == 3
    parts.q("ANALYZE")  # the whole database: foreign tables are not candidates


# -- scans: locking, joins, upper paths, parallel and async plans ----------------------------------

def test_select_for_update_and_share(ft):
    ft.q("INSERT INTO ep VALUES (1, 'a', 1), (2, 'b', 2)")
    for lock in ("FOR UPDATE", "FOR SHARE", "FOR NO KEY UPDATE", "FOR KEY SHARE"):
        assert sorted(ft.q(f"SELECT id FROM ep {lock}")) == [(1,), (2,)]
    ft.q("DROP TABLE IF EXISTS ep_local")
    ft.q("CREATE TABLE ep_local (id int PRIMARY KEY, v text)")
    ft.q("INSERT INTO ep_local VALUES (1, 'x'), (2, 'y')")
    # the foreign row is copied (ROW_MARK_COPY): a locking join works; EvalPlanQual uses the copy
    assert ft.q("SELECT l.v, e.name FROM ep_local l JOIN ep e USING (id) ORDER BY 1 FOR UPDATE") == [
        ("x", "a"), ("y", "b")]
    ft.q("UPDATE ep_local l SET v = e.name FROM ep e WHERE e.id = l.id")
    assert ft.q("SELECT v FROM ep_local ORDER BY id") == [("a",), ("b",)]


def test_joins_and_upper_paths_run_locally(ft):
    ft.q("INSERT INTO ep VALUES (1, 'a', 10), (2, 'b', 20), (3, 'b', 30)")
    ft.table("ep2", "id int, label text", rows="[{'id': 1, 'label': 'L1'}, {'id': 3, 'label': 'L3'}]")
    assert ft.q("SELECT e.id, f.label FROM ep e JOIN ep2 f USING (id) ORDER BY 1") == [(1, "L1"), (3, "L3")]
    assert ft.q("SELECT e.id, f.label FROM ep e LEFT JOIN ep2 f USING (id) ORDER BY 1") == [
        (1, "L1"), (2, None), (3, "L3")]
    # self-join: two scans of one instance at once
    assert ft.one("SELECT count(*) FROM ep a JOIN ep b ON a.name = b.name") == 5
    # grouping, ordering, limits and window functions above the scan
    assert ft.q("SELECT name, sum(big), count(*) FROM ep GROUP BY name ORDER BY name") == [("a", 10, 1), ("b", 50, 2)]
    assert ft.q("SELECT id FROM ep ORDER BY big DESC LIMIT 1 OFFSET 1") == [(2,)]
    assert ft.q("SELECT DISTINCT name FROM ep ORDER BY 1") == [("a",), ("b",)]
    assert ft.q("SELECT id, rank() OVER (ORDER BY big) FROM ep ORDER BY id") == [(1, 1), (2, 2), (3, 3)]
    assert ft.one("SELECT count(*) FROM ep WHERE id IN (SELECT id FROM ep2)") == 2
    assert ft.one("SELECT count(*) FROM ep e WHERE EXISTS (SELECT 1 FROM ep2 f WHERE f.id = e.id)") == 2


def test_no_parallel_worker_runs_python(ft):
    ft.q("INSERT INTO ep VALUES (1, 'a', 1)")
    ft.q("DROP TABLE IF EXISTS ep_big")
    ft.q("CREATE TABLE ep_big AS SELECT g AS id FROM generate_series(1, 20000) g")
    ft.q("ANALYZE ep_big")
    for setting in ("parallel_setup_cost = 0", "parallel_tuple_cost = 0", "min_parallel_table_scan_size = 0",
                    "max_parallel_workers_per_gather = 2", "force_parallel_mode = on"):
        ft.q(f"SET {setting}")
    sql = "SELECT count(*) FROM ep_big b JOIN ep e ON e.id = b.id"
    plan = "\n".join(r[0] for r in ft.q("EXPLAIN " + sql))
    # the foreign scan is never parallel-safe: it stays in the leader, above or beside any Gather
    assert "Foreign Scan" in plan
    assert ft.one(sql) == 1
    assert ft.one("SELECT count(*) FROM ep") == 1


def test_append_of_foreign_partitions_is_not_async(db, request):
    db.q("DROP TABLE IF EXISTS ep_fparts")
    db.q("CREATE TABLE ep_fparts (id int, name text) PARTITION BY RANGE (id)")
    for i, (lo, hi) in enumerate([(0, 10), (10, 20)]):
        db.q(f"CREATE FOREIGN TABLE ep_fparts_{i} PARTITION OF ep_fparts FOR VALUES FROM ({lo}) TO ({hi}) "
             f"SERVER test_srv OPTIONS (store '{store_name(request)}_{i}')")
    db.q("INSERT INTO ep_fparts VALUES (1, 'a'), (15, 'b')")
    db.q("SET enable_async_append = on")
    plan = "\n".join(r[0] for r in db.q("EXPLAIN SELECT * FROM ep_fparts"))
    assert "Append" in plan and "Async" not in plan, plan
    assert sorted(db.q("SELECT * FROM ep_fparts")) == [(1, "a"), (15, "b")]
    # partitionwise join and aggregate over the foreign partitions (children reparameterized)
    db.q("SET enable_partitionwise_join = on")
    db.q("SET enable_partitionwise_aggregate = on")
    assert db.q("SELECT a.id, count(*) FROM ep_fparts a JOIN ep_fparts b USING (id) GROUP BY a.id ORDER BY 1") == [
        (1, 1), (15, 1)]


# -- EXPLAIN of each statement kind ----------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "SELECT * FROM ep WHERE id = 1",
    "SELECT * FROM ep FOR UPDATE",
    "INSERT INTO ep VALUES (9, 'x', 9)",
    "UPDATE ep SET name = 'z' WHERE id = 1",
    "DELETE FROM ep WHERE id = 1 RETURNING name",
    "INSERT INTO ep_parts VALUES (150, 'x', 9)",
    "UPDATE ep_parts SET name = 'z'",
    "DELETE FROM ep_parts WHERE big = 1",
])
def test_explain_verbose_of_each_statement_kind(ft, parts, sql):
    ft.q("INSERT INTO ep VALUES (1, 'a', 1)")
    ft.clear()
    plan = "\n".join(r[0] for r in ft.q("EXPLAIN (VERBOSE) " + sql))
    # an INSERT has no scan of the foreign table (ExplainForeignModify is NULL: nothing to add)
    assert ("Insert on public." if sql.startswith("INSERT") else "Foreign Scan on public.") in plan, plan
    if not sql.startswith("INSERT"):
        assert "Multicorn: verbose True" in plan, plan
    # EXPLAIN without ANALYZE changes nothing
    assert hook_calls(ft, "insert") == hook_calls(ft, "update") == hook_calls(ft, "delete") == []
    plan = "\n".join(r[0] for r in ft.q("EXPLAIN (ANALYZE, VERBOSE, COSTS off, TIMING off) " + sql))
    assert "actual rows" in plan, plan


# -- batch size ------------------------------------------------------------------------------------

def test_modify_batch_size_is_not_read(db):
    """Batch insert is not implemented (its two callbacks are NULL, so PostgreSQL inserts row by
    row): an FDW asking for batches still gets one insert() per row, also for COPY and routing."""
    db.q("DROP SERVER IF EXISTS ep_batch CASCADE")
    db.q("CREATE SERVER ep_batch FOREIGN DATA WRAPPER multicorn OPTIONS (wrapper 'fdws.BatchSizeFDW')")
    db.table("ep_batched", "id int", server="ep_batch")
    db.clear()
    db.q("INSERT INTO ep_batched SELECT g FROM generate_series(1, 12) g")
    with db.conn.cursor() as cur, cur.copy("COPY ep_batched FROM STDIN") as copy:
        for i in range(3):
            copy.write_row((100 + i,))
    assert db.messages("insert") == [f"insert {i}" for i in [*range(1, 13), 100, 101, 102]]
    assert db.messages("bulk_insert") == []


# -- MERGE and COPY options --------------------------------------------------------------------------

def test_merge_into_a_foreign_table_or_foreign_partition_is_a_clear_error(ft, parts):
    merge = ("MERGE INTO {} t USING (VALUES (150, 'm')) s (id, name) ON t.id = s.id "
             "WHEN MATCHED THEN UPDATE SET name = s.name WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.name)")
    # PostgreSQL 15 refuses MERGE on a foreign table, also as a partition of the target
    for target, rel in (("ep", "ep"), ("ep_parts", "ep_parts_remote")):
        with pytest.raises(psycopg.errors.FeatureNotSupported, match=f'cannot execute MERGE on relation "{rel}"'):
            ft.q(merge.format(target))
    assert hook_calls(ft, "insert") == hook_calls(ft, "update") == []


def test_copy_from_with_where_and_freeze(ft):
    with ft.conn.cursor() as cur, cur.copy("COPY ep (id, name) FROM STDIN WHERE id > 1") as copy:
        for i in range(4):
            copy.write_row((i, f"r{i}"))
    assert sorted(ft.q("SELECT id FROM ep")) == [(2,), (3,)]
    # FREEZE: PostgreSQL's own check, and for a table created in the same transaction the rows go
    # through insert() like any COPY (freezing is a heap matter)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="cannot perform COPY FREEZE"), \
            ft.conn.cursor() as cur, cur.copy("COPY ep (id) FROM STDIN (FREEZE)") as copy:
        copy.write_row((9,))
    with ft.conn.transaction():
        ft.table("ep_frozen", "id int", store="ep_frozen")
        with ft.conn.cursor() as cur, cur.copy("COPY ep_frozen FROM STDIN (FREEZE)") as copy:
            copy.write_row((7,))
        assert ft.q("SELECT id FROM ep_frozen") == [(7,)]
