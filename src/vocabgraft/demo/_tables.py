"""Plain-text and Markdown tables from the same rows."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["markdown_table", "text_table"]


def _is_number(cell: str) -> bool:
    return bool(cell) and (cell[0].isdigit() or cell[0] in "+-−.") and cell != "-"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: int = 2) -> str:
    """Columns padded to their widest cell; cells that start like numbers are right-aligned.

    >>> print(text_table(["a", "b"], [["x", "1.0"], ["yy", "22.5"]]))
      a   b
      x    1.0
      yy  22.5
    """
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str], header: bool = False) -> str:
        parts = [
            c.rjust(w) if (not header and _is_number(c) and i > 0) else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return (" " * indent + "  ".join(parts)).rstrip()

    return "\n".join([line(headers, header=True), *(line(r) for r in rows)])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table; pipes and ``<`` in cells are escaped."""

    def cell(text: str) -> str:
        # "<unk>" would be read as an HTML tag and vanish.
        return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")

    align = ["---"] + [
        "---:" if any(_is_number(r[i]) for r in rows) else "---" for i in range(1, len(headers))
    ]
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
