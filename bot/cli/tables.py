"""Tables at any terminal width: numbers, ids, dates and rates are never cut, folded or
ellipsized; the text columns (titles, names, message text) give way by wrapping.

``show`` prints a table fitted to the console's width by ``fit``, which looks at each
column's cells. A column with no Chinese and no long run without spaces (a count, an
amount, a rate, an id, a date and time) gets a fixed width, so Rich never shrinks it:
its widest line, or, when the text columns would be left too little room, its header
folded onto two lines (「新增(」「目标)」) and then its cells wrapped at their spaces
(「5,200.00」「/8,000.00」「(65%)」), never inside a number; when even that is too wide,
each row becomes a block of 「header  value」 lines. Every other column folds: Chinese has
no spaces to wrap at, and without folding Rich cuts it with an ellipsis.

A table with nothing to show is a sentence on stdout, never a bare frame (a header and
borders with no rows), and the exit code stays 0: every ``show`` must name its sentence
(``empty``; None only for a table that always has a row) saying there is nothing, or that
nothing matches the filters given, and how to get something, with the real command. A
report whose rows are a total or fixed rows (「合计 0」) keeps them, the sentence above
(``zero``). Machine-readable outputs (``--json``, ``--csv``) never pass here.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.padding import Padding
from rich.table import Column, Table
from rich.text import Text

from bot.cli.common import out

#: A run without spaces longer than this is text, whatever it holds (a path, a URL).
ATOMIC_MAX_CELLS = 24
#: The least room a text column is counted with (two Chinese characters a line).
TEXT_MIN_CELLS = 4


def show(
    table: Table,
    *,
    empty: str | None,
    zero: bool = False,
    console: Console | None = None,
) -> None:
    """Print ``table`` fitted to the console (stdout by default).

    ``empty`` is the sentence for nothing to show (in Chinese: there is nothing, or
    nothing matches the filters, and the command that fills it); a table without rows is
    printed as that sentence alone. ``zero``: the rows the table has are a total or fixed
    rows of nothing (a report of a period without customers); the sentence is printed
    above them. ``empty=None`` only for a table that always has a row worth reading."""
    console = console or out
    if empty is not None and (zero or not table.rows):
        # as written: no markup, no highlighting, typed values shown as typed
        console.print(Text(empty), highlight=False, soft_wrap=True)
        if not table.rows:
            return
    console.print(fit(table, width=console.width))


@dataclass
class _Atomic:
    """A column of numbers, ids, dates or rates, measured in terminal cells."""

    column: Column
    line: int  # its widest line
    token: int  # its widest run without a space (where a line may wrap)
    header: int
    folded: int  # its header on two lines


def fit(table: Table, *, width: int) -> Table:
    """``table`` with its columns set for ``width`` terminal cells (changed in place).

    Text columns fold. Each atomic column gets a fixed width (Rich never shrinks those)
    that leaves the text columns a few cells each (``_widths``), if need be on a table
    without cell padding; a table whose figures side by side are wider than the terminal
    is shown ``stacked`` (a new table)."""
    atomic: list[_Atomic] = []
    text_room = 0
    for column in table.columns:
        if column.width is not None:  # sized by its command
            continue
        measured = _measure(column)
        if measured is None:
            if column.overflow == "ellipsis":
                column.overflow = "fold"
            text_room += _text_room(column)
            continue
        title = _plain(column.header)
        atomic.append(_Atomic(column, *measured, cell_len(title), _two_line_width(title)))
    if not atomic:
        return table
    widths = _widths(atomic, width - _frame_width(table) - text_room)
    if widths is None:
        table.padding = (0, 0)  # the borders alone separate the columns
        widths = _widths(atomic, width - _frame_width(table) - text_room)
    if widths is None:
        return stacked(table)
    for a, cells in zip(atomic, widths, strict=True):
        a.column.width = cells
        a.column.no_wrap = False  # a folded header or a long cell wraps at its spaces
        a.column.overflow = "fold"
    _share_text_room(table, width - _frame_width(table))
    return table


def _share_text_room(table: Table, room: int) -> None:
    """Size the text columns when their lines side by side do not fit in what the fixed
    columns leave (``room`` less those): each keeps its least room (``_text_room``: the
    id above a script's title whole), the rest goes to the widest first, as Rich would
    share it. Left to Rich, two text columns shrink evenly and the id is cut
    (「GEN-ICE-」「001」 beside 提示's 「∅ 从未采用」)."""
    texts = [c for c in table.columns if c.width is None and not c.no_wrap]
    fixed = [c for c in table.columns if c.width is not None or c.no_wrap]
    left = room - sum(c.width if c.width is not None else _widest_line(c) for c in fixed)
    if len(texts) < 2:
        return
    least = [_text_room(c) for c in texts]
    natural = [_widest_line(c) for c in texts]
    if sum(natural) <= left or sum(least) > left:
        return  # all fits, or nothing can be kept (the atomic columns were sized for it)

    def sized(cap: int) -> list[int]:
        return [max(lo, min(n, cap)) for lo, n in zip(least, natural, strict=True)]

    cap = max(natural)
    while cap > 0 and sum(sized(cap)) > left:
        cap -= 1
    sizes = sized(cap)
    spare = left - sum(sizes)
    for i, n in enumerate(natural):  # the cells a whole cap could not share
        extra = min(spare, n - sizes[i])
        sizes[i] += max(extra, 0)
        spare -= max(extra, 0)
    for column, cells in zip(texts, sizes, strict=True):
        column.width = cells
        column.overflow = "fold"


def stacked(table: Table) -> Table:
    """``table`` one row per block of 「header  value」 lines: for a terminal narrower than
    its figures side by side."""
    columns = table.columns
    cells = [list(column.cells) for column in columns]
    result = Table(show_header=False, title=table.title, caption=table.caption, show_lines=False)
    result.add_column(no_wrap=True, style="bold")
    result.add_column(overflow="fold")
    for index, row in enumerate(table.rows):
        pairs = [(column.header, cells[n][index]) for n, column in enumerate(columns)]
        shown = [(header, cell) for header, cell in pairs if _plain(header) or _plain(cell)]
        for number, (header, cell) in enumerate(shown):
            last = number == len(shown) - 1
            result.add_row(header, cell, style=row.style, end_section=last)
    return result


def _widths(atomic: list[_Atomic], room: int) -> list[int] | None:
    """Widths of the atomic columns within ``room`` cells (None: they do not fit). What
    gives way, in turn, the biggest saving first: headers fold onto two lines, then cells
    wrap at their spaces (「5,200.00」「/8,000.00」「(65%)」)."""
    widths = [max(a.line, a.header) for a in atomic]
    folded = [max(a.line, a.folded) for a in atomic]
    wrapped = [max(a.token, a.folded) for a in atomic]
    for step in (folded, wrapped):
        if sum(widths) <= room:
            return widths
        saving = sorted(range(len(atomic)), key=lambda i: widths[i] - step[i], reverse=True)
        for i in saving:
            widths[i] = min(widths[i], step[i])
            if sum(widths) <= room:
                return widths
    return None


def _measure(column: Column) -> tuple[int, int] | None:
    """(widest line, widest token) of a column of numbers, ids, dates or rates; None for
    a text column (Chinese in a line, or a very long run without spaces)."""
    line_max = token_max = 0
    for cell in column.cells:
        if not isinstance(cell, str | Text):
            return None
        for line in _plain(cell).splitlines() or [""]:
            cells = cell_len(line)
            tokens = [len(token) for token in line.split()]
            if cells != len(line) or max(tokens, default=0) > ATOMIC_MAX_CELLS:
                return None  # wide characters (Chinese), or a path, a URL
            line_max = max(line_max, cells)
            token_max = max([token_max, *tokens])
    return (line_max, token_max) if line_max else None


def _text_room(column: Column) -> int:
    """The cells a text column is left at the least: two Chinese characters a line, or
    its longest id or number (「INS-CARE-003」 above a script's title), never more than
    it needs."""
    widest = token = 0
    for cell in (column.header, *column.cells):
        for line in _plain(cell).splitlines():
            widest = max(widest, cell_len(line))
            narrow = [len(t) for t in line.split() if cell_len(t) == len(t)]
            token = max([token, *(n for n in narrow if n <= ATOMIC_MAX_CELLS)])
    return min(widest, max(TEXT_MIN_CELLS, token))


def _widest_line(column: Column) -> int:
    """The cells of a column's longest line, header included."""
    lines = (line for cell in (column.header, *column.cells) for line in _plain(cell).splitlines())
    return max((cell_len(line) for line in lines), default=1)


def _two_line_width(text: str) -> int:
    """The narrowest width that shows ``text`` on at most two lines."""
    if len(text) < 2:
        return cell_len(text)
    return min(max(cell_len(text[:k]), cell_len(text[k:])) for k in range(1, len(text)))


def _frame_width(table: Table) -> int:
    """Cells taken by borders and padding (as rich.table.Table lays them out)."""
    _, right, _, left = Padding.unpack(table.padding)
    count = len(table.columns)
    frame = (left + right) * count
    if not table.pad_edge:
        frame -= left + right
    if table.box is not None:
        frame += count - 1 + (2 if table.show_edge else 0)
    return frame


def _plain(cell: RenderableType) -> str:
    if isinstance(cell, Text):
        return cell.plain
    return cell if isinstance(cell, str) else ""
