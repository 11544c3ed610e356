"""Warms both servers before any test run: loads the schema and the seed into MySQL and clears
the Redis queue, as the suite's session setup does, but with generous timeouts.

A fresh server's first work is its slowest (InnoDB creates its tables, the server's code and
files come from a cold page cache): under user-mode Linux with cold caches the seed's first
load took longer than the application's 2 s read timeout, so the first run (a matrix's
baseline) failed every MySQL test while later runs passed. examples/ichnaea/servers runs this
once both servers answer.

    python3 tests/warm.py       (ICHNAEA_MYSQL, ICHNAEA_REDIS as for the suite)
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

from ichnaea import config, db, queue  # noqa: E402

config.MYSQL_CONNECT_TIMEOUT = config.REDIS_CONNECT_TIMEOUT = 30.0
config.MYSQL_READ_TIMEOUT = config.MYSQL_WRITE_TIMEOUT = config.REDIS_SOCKET_TIMEOUT = 120.0

import seed  # noqa: E402


def main():
    start = time.monotonic()
    pool = db.Pool()
    seed.load(pool)
    pool.close()
    q = queue.ReportQueue()
    q.clear()
    q.close()
    print("warm: schema, seed and queue ready in %.1fs" % (time.monotonic() - start), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
