"""Repair README links whose line numbers drifted after an edit.

A link such as [`server`](test_kv_client.py#L27-L54) must start at the line
that holds ``server`` and span its whole definition (tests/test_layout.py checks
it). When it no longer does, and ``server`` is defined exactly once in that file,
the link is rewritten to span the whole definition, decorators included. When the file no longer
defines it but exactly one other .py file of the same folder does (a pitfall
moved to test_pitfalls.py), the link is pointed at that file. Links that still
point at their name are left exactly as written. Usage: python tools/relink_readmes.py
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[`([A-Za-z_][A-Za-z0-9_]*)`\]\(([^)#\s]+\.py)#L(\d+)(?:-L(\d+))?\)")


def definitions(source: str) -> dict[str, tuple[int, int] | None]:
    """Name -> (first line, last line) of every def, class and simple assignment; None if defined twice."""
    spans: dict[str, tuple[int, int] | None] = {}

    def add(name: str, span: tuple[int, int]) -> None:
        spans[name] = None if name in spans else span

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            add(node.name, (start, node.end_lineno or start))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    add(target.id, (node.lineno, node.end_lineno or node.lineno))
    return spans


def relink(readme: Path) -> bool:
    text = readme.read_text()
    cache: dict[Path, tuple[list[str], dict[str, tuple[int, int] | None]]] = {}

    def parsed(path: Path) -> tuple[list[str], dict[str, tuple[int, int] | None]]:
        if path not in cache:
            source = path.read_text()
            cache[path] = (source.splitlines(), definitions(source))
        return cache[path]

    def replace(match: re.Match[str]) -> str:
        name, target, first = match.group(1), match.group(2), int(match.group(3))
        last = int(match.group(4) or first)
        path = (readme.parent / target).resolve()
        if not path.is_file():
            return match.group(0)
        lines, spans = parsed(path)
        index = first - 1
        if 0 <= index < len(lines) and lines[index].lstrip().startswith("@"):
            # A link may start at the decorators of what it names, as the meta-test allows.
            while index < len(lines) - 1 and not lines[index].lstrip().startswith(("def ", "async def ", "class ")):
                index += 1
        if 0 <= index < len(lines) and name in lines[index] and spans.get(name) in (None, (first, last)):
            return match.group(0)  # still right
        if name not in spans:  # moved to a sibling file?
            homes = [p for p in sorted(path.parent.glob("*.py")) if p != path and parsed(p)[1].get(name)]
            if len(homes) == 1:
                path = homes[0]
                target = str(Path(target).parent / path.name) if "/" in target else path.name
                spans = parsed(path)[1]
        span = spans.get(name)
        if span is None:
            return match.group(0)
        start, end = span
        anchor = f"#L{start}" if start == end else f"#L{start}-L{end}"
        return f"[`{name}`]({target}{anchor})"

    new = LINK.sub(replace, text)
    if new != text:
        readme.write_text(new)
    return new != text


def main() -> int:
    readmes = [ROOT / "README.md", *sorted((ROOT / "recipes").glob("*/README.md"))]
    changed = [str(readme.relative_to(ROOT)) for readme in readmes if relink(readme)]
    print("relinked: " + (", ".join(changed) if changed else "nothing to change"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
