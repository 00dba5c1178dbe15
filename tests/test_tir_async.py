"""tests/tir_async.py, when the CPU evaluator's asynchronous copies complete, on its own."""
import pytest
from tir_async import EAGER, LAZY, Copy, Groups, InFlight


class Counting:
    """An mbarrier's byte count."""
    def __init__(self):
        self.completed = 0

    def complete(self, nbytes):
        self.completed += nbytes


def copy(log: list, name: str, ranks=(0,), barrier=None) -> Copy:
    return Copy(name, lambda: log.append(name), frozenset(ranks), barrier, 16)


def test_eager_copies_complete_when_issued():
    log, barrier = [], Counting()
    InFlight(EAGER).issue(copy(log, "a", barrier=barrier))
    assert log == ["a"] and barrier.completed == 16


def test_lazy_copies_complete_newest_first_when_asked():
    log, in_flight, barrier = [], InFlight(LAZY), Counting()
    in_flight.issue(copy(log, "a", barrier=barrier))
    in_flight.issue(copy(log, "b"))
    assert log == [] and barrier.completed == 0
    assert in_flight.complete_newest() and log == ["b"] and barrier.completed == 0
    assert in_flight.complete_newest() and log == ["b", "a"] and barrier.completed == 16
    assert not in_flight.complete_newest()


def test_a_copy_completes_once():
    log, in_flight = [], InFlight(LAZY)
    c = copy(log, "a")
    in_flight.issue(c)
    c.complete()
    assert not in_flight.complete_newest() and log == ["a"]


def test_wait_group_completes_all_but_the_newest_groups():
    log, in_flight, groups = [], InFlight(LAZY), Groups()
    for name in "abc":
        c = copy(log, name)
        in_flight.issue(c)
        groups.add(c)
        groups.commit()
    groups.add(copy(log, "open"))           # not committed: no wait_group waits for it
    groups.wait(1)
    assert log == ["a", "b"]
    groups.wait(0)
    assert log == ["a", "b", "c"]


def test_a_block_exits_with_a_copy_into_its_shared_memory_in_flight():
    in_flight = InFlight(LAZY)
    in_flight.issue(copy([], "a TMA load", ranks=(1,)))
    in_flight.check_exit(0)
    with pytest.raises(RuntimeError, match="a TMA load still in flight .* rank 1"):
        in_flight.check_exit(1)


def test_completion_is_eager_or_lazy():
    with pytest.raises(ValueError, match="eager or lazy"):
        InFlight("soon")
