"""A task repeated on a timer in a daemon thread: the model poller and the monitoring check.

One start, stop and loop for every background job of the service, so that none of them
hand-rolls its thread, its stop signal or its survival of an unexpected error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class PeriodicTask:
    """Runs ``action`` every ``interval_seconds`` in a daemon thread until :meth:`stop`."""

    def __init__(
        self,
        name: str,
        action: Callable[[], object],
        *,
        interval_seconds: float,
        on_error: Callable[[Exception], None],
    ) -> None:
        """Repeat ``action``; an exception it raises goes to ``on_error`` and the loop goes on.

        Args:
            name: The thread's name (shown in thread dumps).
            action: What to run each time.
            interval_seconds: Seconds between the end of one run and the start of the next.
            on_error: Called with whatever ``action`` raised; it must not raise itself.
        """
        self._name = name
        self._action = action
        self._interval = interval_seconds
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the thread has been started and not stopped."""
        return self._thread is not None

    def start(self, *, first_delay_seconds: float | None = None) -> None:
        """Start the thread: the first run after ``first_delay_seconds`` (default: the
        interval), the next ones every interval. Starting a running task does nothing."""
        if self._thread is not None:
            return
        self._stop.clear()
        delay = self._interval if first_delay_seconds is None else first_delay_seconds
        self._thread = threading.Thread(
            target=self._loop, args=(delay,), name=self._name, daemon=True
        )
        self._thread.start()

    def stop(self, *, timeout_seconds: float | None = None) -> None:
        """Stop the loop; waits (up to ``timeout_seconds``) for a run in progress to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_seconds)
            self._thread = None

    def _loop(self, delay: float) -> None:
        while not self._stop.wait(delay):
            delay = self._interval
            try:
                self._action()
            except Exception as error:  # noqa: BLE001 - the loop must outlive any surprise
                self._on_error(error)
