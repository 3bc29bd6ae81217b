def test_basic_scan(db):
    db.table("smoke", "id int, name text", n="3")
    assert db.q("SELECT id, name FROM smoke ORDER BY id") == [(0, "row0"), (1, "row1"), (2, "row2")]
