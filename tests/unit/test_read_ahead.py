"""Read ahead: the next item is ready while the caller works, in order, errors where they happened."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from contactsync.use_cases.read_ahead import ReadAhead

WAIT = 5.0


class Pages:
    """A producer that records how far it got and whether it was closed."""

    def __init__(self, count: int, fail_after: int | None = None) -> None:
        self.count = count
        self.fail_after = fail_after
        self.produced: list[int] = []
        self.closed = threading.Event()
        self.second_ready = threading.Event()

    def __call__(self) -> Iterator[int]:
        try:
            for number in range(1, self.count + 1):
                if self.fail_after is not None and number > self.fail_after:
                    raise ConnectionError("the source went away")
                self.produced.append(number)
                if number == 2:
                    self.second_ready.set()
                yield number
        finally:
            self.closed.set()


def test_the_next_item_is_produced_while_the_caller_still_works_on_this_one() -> None:
    # Given a producer of five pages
    pages = Pages(5)

    # When the caller takes the first page and, before going on, waits for the second to be read
    with ReadAhead(pages) as items:
        first = next(items)
        read_while_working = pages.second_ready.wait(WAIT)
        rest = list(items)

    # Then the second page was read during that work, and every page came out once, in order
    assert read_while_working
    assert [first, *rest] == [1, 2, 3, 4, 5]


def test_an_error_comes_out_after_the_items_before_it() -> None:
    # Given a producer that fails after two pages
    pages = Pages(5, fail_after=2)
    received: list[int] = []

    # When every page is taken, then the two pages come first and the error after them
    with pytest.raises(ConnectionError, match="went away"), ReadAhead(pages) as items:
        received.extend(items)
    assert received == [1, 2]


def test_leaving_early_stops_the_producer_and_closes_it() -> None:
    # Given a producer of a thousand pages
    pages = Pages(1000)

    # When the caller leaves after the first page
    with ReadAhead(pages) as items:
        next(items)

    # Then the producer was closed, having read no more than one page ahead and one in hand
    assert pages.closed.wait(WAIT)
    assert len(pages.produced) <= 3
