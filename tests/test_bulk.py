"""The garbage collector waits during batch work and always comes back, whatever the batch raises."""

from __future__ import annotations

import gc

import pytest

from tasks.bulk import collector_paused


def test_collection_paused_inside_and_resumed_after_even_when_the_batch_raises() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # a nested batch does not resume it early
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a bug in the batch")
    assert gc.isenabled()


def test_a_collector_disabled_by_the_application_stays_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_cycles_made_in_the_batch_are_collected_after_it() -> None:
    class Node:
        other: Node

    with collector_paused():
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        garbage_before = sum(isinstance(o, Node) for o in gc.get_objects(0) + gc.get_objects(1))
    assert garbage_before == 2
    assert not any(isinstance(o, Node) for o in gc.get_objects())


def test_a_decorated_function_runs_with_the_collector_paused_each_call() -> None:
    @collector_paused()
    def batch() -> bool:
        return gc.isenabled()

    assert [batch(), batch()] == [False, False]
    assert gc.isenabled()
