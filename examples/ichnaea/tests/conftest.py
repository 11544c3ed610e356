"""Fixtures: the application, MySQL schema + seed (once per session), a clean Redis queue.

A session setup that fails (the server cannot be reached) is tried once: every later test that
needs it errors at once, so a run against a faulted server ends after one library timeout or
two, not one per test.

With NETFAULT_MATRIX_METRICS set to a path, the session writes there, at its end,
{"round_trips.mysql": N, "round_trips.redis": M, "wait_seconds.mysql": S}: the round trips this
run made, counted by ichnaea.db and ichnaea.queue (see their docstrings for the method), and the
time it spent waiting for MySQL's replies.
"""
import io
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pytest  # noqa: E402

from ichnaea import db, metrics, queue, webapp  # noqa: E402

import seed  # noqa: E402


@pytest.fixture(scope="session")
def pool():
    p = db.Pool()  # connects lazily
    yield p
    p.close()


@pytest.fixture(scope="session")
def report_queue():
    q = queue.ReportQueue()  # connects lazily
    yield q
    q.close()


@pytest.fixture(scope="session")
def app(pool, report_queue):
    return webapp.Application(pool, report_queue)


class _Setup:
    """A session setup's outcome. When it failed (the server could not be reached), the first
    test that needs it errors with the full traceback and every later one with a one-line
    error: the same failure, without pytest formatting ~1000 identical long tracebacks (which
    would take longer than the library timeouts)."""

    def __init__(self, what, action):
        self.what, self.error, self.reported = what, None, False
        try:
            self.value = action()
        except Exception as e:  # noqa: BLE001  reported by every test that needs it
            self.error = e

    def get(self):
        if self.error is None:
            return self.value
        if not self.reported:
            self.reported = True
            raise self.error
        pytest.fail("%s failed: %s: %s" % (self.what, type(self.error).__name__, self.error),
                    pytrace=False)


@pytest.fixture(scope="session")
def _mysql_setup(pool):
    def load():
        seed.load(pool)
        return seed.SITES
    return _Setup("MySQL schema and seed", load)


@pytest.fixture(scope="session")
def _redis_setup(report_queue):
    def clear():
        report_queue.clear()  # reports an earlier (perhaps interrupted) run left
        return report_queue
    return _Setup("clearing the Redis queue", clear)


@pytest.fixture
def mysql_seeded(_mysql_setup):
    """The seeded sites; MySQL has the schema and every seeded row."""
    return _mysql_setup.get()


@pytest.fixture
def redis_clean(_redis_setup):
    """The report queue, emptied once at the start of the session."""
    return _redis_setup.get()


@pytest.fixture(scope="session")
def post(app):
    """post(path, body) -> (status, answer): one POST through the WSGI interface."""
    return lambda path, body: call(app, path, body)


def call(app, path, body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "CONTENT_LENGTH": str(len(raw)),
               "wsgi.input": io.BytesIO(raw)}
    seen = {}

    def start_response(status, headers):
        seen["status"] = int(status.split()[0])

    out = b"".join(app(environ, start_response))
    return seen["status"], json.loads(out)


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("NETFAULT_MATRIX_METRICS")
    if not path:
        return
    counts = metrics.snapshot()
    data = {"round_trips.mysql": counts.get("round_trips.mysql", 0),
            "round_trips.redis": counts.get("round_trips.redis", 0),
            "wait_seconds.mysql": round(counts.get("wait_seconds.mysql", 0), 3)}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.write("\n")
    os.replace(tmp, path)


def pytest_terminal_summary(terminalreporter):
    c = metrics.snapshot()
    terminalreporter.write_line(
        "round trips: mysql %d (%d connects, %d commands), redis %d (%d connects, %d sends)" % (
            c.get("round_trips.mysql", 0), c.get("connects.mysql", 0), c.get("commands.mysql", 0),
            c.get("round_trips.redis", 0), c.get("connects.redis", 0), c.get("commands.redis", 0)))
