"""Batch work that allocates many short-lived objects: the garbage collector waits until the batch is done.

A batch of a few hundred workbooks makes hundreds of thousands of small, acyclic objects (cells, rows, parsed
values, mail parts). CPython starts a collection every 700 allocations and a full one every hundred of those,
each walking every live object of a process that has imported Prefect, SQLAlchemy and pydantic: a quarter of
the collect's own CPU at a province's scale went there. Reference counting frees these objects anyway; one
collection after the batch catches any cycle it made.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause automatic garbage collection for the block, or for every call of a function decorated with
    `@collector_paused()` (nested blocks keep it paused until the outermost ends)."""
    if not gc.isenabled():  # paused by an outer block, or by the application: leave it as it is
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(1)  # the young generations: what the batch left, without walking the whole heap
