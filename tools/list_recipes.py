"""`make list`: every recipe with its doc section and its title (standard library only)."""

import re
from pathlib import Path

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def main() -> None:
    rows = []
    for readme in sorted(RECIPES.glob("*/README.md")):
        text = readme.read_text()
        section = re.search(r"^\*\*Doc section:\*\* *(.+)$", text, re.M)
        doc = section.group(1) if section else "?"
        rows.append((readme.parent.name, "beyond the doc" if doc.startswith("none") else doc, text.splitlines()[0]))
    widths = [max(len(row[i]) for row in rows) for i in (0, 1)]
    for name, doc, title in rows:
        print(f"  {name:<{widths[0]}}  {doc:<{widths[1]}}  {title.lstrip('# ')}")


if __name__ == "__main__":
    main()
