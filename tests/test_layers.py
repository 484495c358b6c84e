"""The layers as the README draws them, read from the code's own imports: no service imports another, the kit
imports no service, and a service's `db/` (queries) imports neither its `domain/` (rules) nor its `api/`."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"identity": "svc-identity", "ledger": "svc-ledger", "matching": "svc-matching", "aed": "svc-aed",
            "audit": "svc-audit"}  # fmt: skip


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _offending(files, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in _imports(path)
        if name in forbidden or name.startswith(tuple(f + "." for f in forbidden))
    )


def test_no_service_imports_another_and_the_kit_imports_none():
    for package, folder in SERVICES.items():
        others = tuple(p for p in SERVICES if p != package)
        assert _offending((ROOT / folder / package).rglob("*.py"), others) == [], package
    kit = [*(ROOT / "libs/servicekit/servicekit").rglob("*.py"), *(ROOT / "contracts/contracts").rglob("*.py")]
    assert _offending(kit, tuple(SERVICES)) == []


def test_queries_do_not_reach_up_into_rules_or_routes():
    for package, folder in SERVICES.items():
        db = (ROOT / folder / package / "db").rglob("*.py")
        assert _offending(db, (f"{package}.domain", f"{package}.api")) == [], package


def test_rules_hold_no_sql():
    """A service's `domain/` states rules and calls its `db/` for data: no SQL text, no statement built or executed
    there (ORM objects read and changed through the session stay: the unit of work is the rule's transaction)."""
    statements = {"text", "select", "insert", "update", "delete"}
    found = []
    for package, folder in SERVICES.items():
        for path in (ROOT / folder / package / "domain").rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                    found += [f"{path.relative_to(ROOT)} imports {a.name}" for a in node.names if a.name in statements]
                elif isinstance(node, ast.Attribute) and node.attr == "execute":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} executes a statement")
    assert found == []
