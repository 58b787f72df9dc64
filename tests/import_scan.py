"""Which modules a command's code imports, read from its source (for the start-time test and bench)."""

from __future__ import annotations

import ast
from pathlib import Path


def command_imports(path: Path, functions: tuple[str, ...]) -> list[str]:
    """The absolute imports at the top of ``path`` and inside ``functions``: what running the command pulls in."""
    tree = ast.parse(path.read_text())
    nodes = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    nodes += [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in functions]
    names: list[str] = []
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0 and sub.module != "__future__":
                names.append(sub.module)
            elif isinstance(sub, ast.Import):
                names += [a.name for a in sub.names]
    return list(dict.fromkeys(names))
