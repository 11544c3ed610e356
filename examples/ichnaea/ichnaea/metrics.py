"""Round-trip counters, per service ("mysql", "redis").

A round trip is each time the client waits for the server: 1 for each TCP connect
(attempted), then 1 for each time the client reads from the server after having written to
it, or reads first (MySQL's greeting). The counting itself is done by the client classes in
ichnaea.db and ichnaea.queue; see there.
"""
import threading
from collections import Counter

_lock = threading.Lock()
_counts = Counter()


def count(name, n=1):
    with _lock:
        _counts[name] += n


def snapshot():
    with _lock:
        return dict(_counts)


def reset():
    with _lock:
        _counts.clear()
