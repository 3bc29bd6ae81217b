"""Every SQL statement in README.md is one that `make demo` runs (devstack/stack.py DEMO), so the README's
SQL is executed by tests/sql/test_stack.py, which runs the demo."""

from __future__ import annotations

import re
from pathlib import Path

from devstack.stack import DEMO

ROOT = Path(__file__).resolve().parents[2]


def statements(sql: str) -> list[str]:
    """Statements ending in `;` at the end of a line, comment lines dropped, whitespace collapsed."""
    text = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [" ".join(s.split()) for s in re.split(r";[ \t]*(?:\n|$)", text) if s.strip()]


def test_every_readme_sql_statement_is_run_by_the_demo() -> None:
    blocks = re.findall(r"^```sql\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)
    assert blocks, "README.md has SQL examples"
    demo = {s for _, sql, _ in DEMO for s in statements(sql)}
    readme = [s for block in blocks for s in statements(block)]
    assert readme
    assert [s for s in readme if s not in demo] == []


def test_statements_splits_on_line_ends_only() -> None:
    assert statements("SELECT 'a;b';\n-- note\nSELECT  2;") == ["SELECT 'a;b'", "SELECT 2"]
