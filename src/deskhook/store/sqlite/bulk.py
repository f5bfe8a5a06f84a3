"""Many rows in one statement.

`executemany` steps each row on its own, and the writer's thread lets go of the GIL for each
step and takes it back after. While the event loop is busy, each take-back waits for the loop
to let go in turn, up to the interpreter's switch interval (5 ms): a batch of a thousand rows
could wait seconds. A statement that writes a few hundred rows at once takes the GIL back a few
times per batch, however many rows it has."""

import functools
from collections.abc import Sequence

import aiosqlite

# Within SQLite's 32,766 bound parameters for the widest row (an attempt's 17 columns), and few
# enough that a batch of the usual size is one statement.
ROWS_PER_STATEMENT = 500


@functools.cache
def values_list(rows: int, columns: int) -> str:
    """`(?, ?), (?, ?)` for `rows` rows of `columns` columns."""
    row = f"({', '.join('?' * columns)})"
    return ", ".join([row] * rows)


async def execute_rows(
    db: aiosqlite.Connection, statement: str, rows: Sequence[Sequence[object]]
) -> None:
    """Run `statement`, in which `{values}` stands for a VALUES list (its columns named
    `column1`, `column2`… in SQLite), over `rows`, all of one width."""
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        await db.execute(
            statement.format(values=values_list(len(chunk), len(chunk[0]))),
            [value for row in chunk for value in row],
        )
