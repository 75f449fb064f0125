"""Login throttling: N failures per (user name, client) within a window answer 429."""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class LoginRateLimiter:
    """In-process sliding window of failed logins (per service process; see README)."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, username: str, client: str) -> int:
        """Seconds until another attempt is allowed (0 = allowed now)."""
        now = time.monotonic()
        with self._lock:
            window = self._prune(self._key(username, client), now)
            if len(window) < self.max_failures:
                return 0
            return max(1, math.ceil(window[0] + self.window_s - now))

    def record_failure(self, username: str, client: str) -> None:
        """Count one failed attempt."""
        with self._lock:
            key = self._key(username, client)
            self._prune(key, time.monotonic()).append(time.monotonic())

    def reset(self, username: str, client: str) -> None:
        """Forget the failures after a successful login."""
        with self._lock:
            self._failures.pop(self._key(username, client), None)

    @staticmethod
    def _key(username: str, client: str) -> tuple[str, str]:
        return username.strip().lower(), client

    def _prune(self, key: tuple[str, str], now: float) -> deque[float]:
        window = self._failures.setdefault(key, deque())
        while window and window[0] <= now - self.window_s:
            window.popleft()
        return window
