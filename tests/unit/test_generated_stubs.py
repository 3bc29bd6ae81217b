"""The committed stubs in routerd/gen are exactly what `make proto` generates from protos/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GEN = ROOT / "routerd" / "gen" / "tinydancer" / "v1"


def test_stubs_match_proto(tmp_path: Path) -> None:
    protos = sorted((ROOT / "protos" / "tinydancer" / "v1").glob("*.proto"))
    assert protos
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-Irouterd/gen={ROOT / 'protos'}",
                    f"--python_out={tmp_path}", f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}",
                    *[str(p) for p in protos]], check=True, cwd=ROOT)
    fresh = tmp_path / "routerd" / "gen" / "tinydancer" / "v1"
    generated = sorted(p.name for p in fresh.iterdir())
    committed = sorted(p.name for p in GEN.iterdir() if p.name != "__init__.py" and p.suffix in (".py", ".pyi"))
    assert generated == committed, "run `make proto`"
    for name in generated:
        assert (fresh / name).read_text() == (GEN / name).read_text(), f"{name} is stale: run `make proto`"
