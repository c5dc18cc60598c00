"""The engines' house (ARCHITECTURE.md): engines/ imports only engines/, model/ and
properties/, so no import cycle runs through verify.py, traces.py or the CLI again
(verify.py and the Z3 protocol engine used to import each other)."""
import ast
from pathlib import Path

import reapcheck.engines

ENGINES = Path(reapcheck.engines.__file__).parent
ALLOWED = ("reapcheck.engines", "reapcheck.model", "reapcheck.properties")


def _imports(path: Path):
    package = "reapcheck." + ".".join(path.relative_to(ENGINES.parent).with_suffix("").parts)
    parts = package.split(".")
    if path.name != "__init__.py":
        parts = parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(parts[:len(parts) - node.level + 1])
                name = f"{base}.{node.module}" if node.module else base
                names = [name] if node.module else [f"{base}.{a.name}" for a in node.names]
            else:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            yield node.lineno, name


def test_engines_import_only_engines_model_and_properties():
    modules = sorted(ENGINES.rglob("*.py"))
    assert len(modules) > 15
    outside = [f"{p.relative_to(ENGINES)}:{line}: {name}" for p in modules
               for line, name in _imports(p)
               if name.startswith("reapcheck") and not name.startswith(ALLOWED)]
    assert outside == []


def test_the_explicit_engines_do_not_import_z3():
    explicit = sorted((ENGINES / "explicit").glob("*.py"))
    found = [f"{p.name}:{line}" for p in explicit for line, name in _imports(p)
             if name == "z3" or name.startswith(("z3.", "reapcheck.engines.symbolic"))]
    assert found == []
