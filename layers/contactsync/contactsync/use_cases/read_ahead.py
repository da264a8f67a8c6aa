"""Read ahead: produce the next item in a background thread while the caller works on this one.

An import spends most of a page waiting for DynamoDB; reading the source's next page and
validating its records in that wait keeps a run close to the store's own speed. One item is
kept ready (``depth``), so memory stays that of a page or two whatever the source's size.
Items come out in order; an error from the producer comes out where it happened, after the
items before it. Leaving the ``with`` block early stops the producer and closes its iterator.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Literal

_WAIT_SECONDS = 0.05
_JOIN_SECONDS = 30.0

type _Entry[T] = (
    tuple[Literal["item"], T] | tuple[Literal["end"], None] | tuple[Literal["error"], BaseException]
)


class ReadAhead[T]:
    def __init__(self, produce: Callable[[], Iterable[T]], depth: int = 1) -> None:
        self._produce = produce
        self._ready: queue.Queue[_Entry[T]] = queue.Queue(maxsize=depth)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="read-ahead", daemon=True)

    def __enter__(self) -> Iterator[T]:
        self._thread.start()
        return self._items()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._thread.join(_JOIN_SECONDS)

    def _items(self) -> Iterator[T]:
        while True:
            entry = self._ready.get()
            if entry[0] == "end":
                return
            if entry[0] == "error":
                raise entry[1]
            yield entry[1]

    def _run(self) -> None:
        items: Iterator[T] = iter(())
        try:
            items = iter(self._produce())
            for item in items:
                if not self._hand_over(("item", item)):
                    return
            self._hand_over(("end", None))
        except BaseException as error:  # handed to the caller's thread, raised there
            self._hand_over(("error", error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def _hand_over(self, entry: _Entry[T]) -> bool:
        """Wait for room; False once the caller has left (nothing more is wanted)."""
        while not self._stopping.is_set():
            try:
                self._ready.put(entry, timeout=_WAIT_SECONDS)
            except queue.Full:
                continue
            return True
        return False
