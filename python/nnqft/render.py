"""Text and HTML rendering of result tables (imports no result class).

Results describe themselves as a list of :class:`Table` (``_tables()``); this module turns
them into the readable ``__str__`` (box-drawing tables, iminuit style) and the notebook's
``_repr_html_``.  Keeping the layout here means every result looks alike and a change of
style is made once (the split follows iminuit's ``_repr_text`` / ``_repr_html``).
"""

from __future__ import annotations

import dataclasses
import html as _html
import math
from collections.abc import Sequence

__all__ = ["Table", "html", "signed", "text", "value_error"]


@dataclasses.dataclass(frozen=True)
class Table:
    """One block of a result's display: note lines, then an optional table.

    Attributes
    ----------
    notes : sequence of str
        Lines shown above the table (title, status, conventions).
    columns : sequence of str
        Column headings; empty for a block of notes only.
    rows : sequence of sequence of str
        Cells, already formatted; the first column is left-aligned, the others right.
    """

    notes: Sequence[str] = ()
    columns: Sequence[str] = ()
    rows: Sequence[Sequence[str]] = ()


def value_error(value: float, error: float | None, digits: int = 5) -> str:
    """``"value ± error"`` with ``digits`` significant digits (the value alone without error)."""
    if error is None or not math.isfinite(error) or error == 0:
        return f"{value:.{digits}g}"
    return f"{value:.{digits}g} ± {error:.2g}"


def signed(value: float) -> str:
    """A z-score or pull: ``+1.3``, ``-0.4``, ``0.0`` (never ``-0.0``), ``—`` for NaN."""
    if not math.isfinite(value):
        return "—"
    return f"{value:+.1f}" if round(value, 1) != 0 else "0.0"


def _box(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]

    def line(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * (w + 2) for w in widths) + right

    def cells(values: Sequence[str]) -> str:
        parts = [f" {v:<{w}} " if i == 0 else f" {v:>{w}} " for i, (v, w)
                 in enumerate(zip(values, widths, strict=True))]
        return "│" + "│".join(parts) + "│"

    body = [cells(r) for r in rows]
    return [line("┌", "┬", "┐"), cells(columns), line("├", "┼", "┤"), *body, line("└", "┴", "┘")]


def text(tables: Sequence[Table]) -> str:
    """Plain-text rendering: the notes, each table boxed; blocks separated by a blank line."""
    blocks = []
    for t in tables:
        lines = list(t.notes)
        if t.columns:
            lines += _box(t.columns, t.rows)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def html(tables: Sequence[Table]) -> str:
    """HTML rendering for notebooks (every string escaped)."""
    out = []
    for t in tables:
        out.append("".join(f"<div>{_html.escape(n)}</div>" for n in t.notes))
        if t.columns:
            head = "".join(f"<th>{_html.escape(c)}</th>" for c in t.columns)
            body = "".join("<tr>" + "".join(f"<td>{_html.escape(v)}</td>" for v in r) + "</tr>"
                           for r in t.rows)
            out.append(f"<table><tr>{head}</tr>{body}</table>")
    return "".join(out)
