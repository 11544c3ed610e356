"""MySQL: a PyMySQL connection that counts its round trips, and a small pool of them.

Round-trip counting (see ichnaea.metrics): CountingConnection subclasses PyMySQL's
Connection and hooks the three places where it touches the network:
  - connect(): 1 for the TCP connect (counted when attempted, so a refused or timed-out
    connect counts too), and arms "awaiting a reply", because the server speaks first (its
    greeting);
  - _write_bytes(): every packet written arms "awaiting a reply";
  - _read_bytes(): the first read after a write (or the greeting) counts 1 and disarms.
PyMySQL reads a packet as a 4-byte header then its payload, and a result set as many packets,
all through _read_bytes and a buffered reader, so only the first read of each reply is a wait
for the server; the rest come from the same reply. Thus a connect counts TCP connect +
greeting + authentication reply (+ an auth-switch exchange or init queries if the server or
the options ask for them: each is a write then a read), and each query counts 1. COM_QUIT at
close is written and never read: 0.
"""
import threading
import time

import pymysql
import pymysql.connections

from . import config, metrics


class CountingConnection(pymysql.connections.Connection):
    def connect(self, sock=None):
        self._awaiting_reply = True  # the server's greeting
        if sock is None and not self.unix_socket:
            metrics.count("round_trips.mysql")
            metrics.count("connects.mysql")
        return super().connect(sock)

    def _write_bytes(self, data):
        self._awaiting_reply = True
        self._wrote_at = time.monotonic()
        return super()._write_bytes(data)

    def _read_bytes(self, num_bytes):
        if self._awaiting_reply:
            self._awaiting_reply = False
            metrics.count("round_trips.mysql")
            # wait_seconds.mysql: from a request's last write to its reply's first bytes, the
            # time the client spent waiting for the server (what a delay adds to, round trip
            # by round trip, whatever else competes for the CPU).
            wrote_at = getattr(self, "_wrote_at", None)
            data = super()._read_bytes(num_bytes)
            if wrote_at is not None:
                metrics.count("wait_seconds.mysql", time.monotonic() - wrote_at)
            return data
        return super()._read_bytes(num_bytes)

    def _execute_command(self, command, sql):
        metrics.count("commands.mysql")
        return super()._execute_command(command, sql)


def connect(database=None):
    """A new connection (library timeouts from ichnaea.config), autocommit on."""
    host, port = config.mysql_address()
    return CountingConnection(
        host=host,
        port=port,
        user="root",
        password="",
        database=database,
        charset="utf8mb4",
        autocommit=True,
        connect_timeout=config.MYSQL_CONNECT_TIMEOUT,
        read_timeout=config.MYSQL_READ_TIMEOUT,
        write_timeout=config.MYSQL_WRITE_TIMEOUT,
    )


class Pool:
    """Up to `size` idle connections kept for reuse.

    A connection that failed at the network level (PyMySQL closes it: `open` is False) is
    dropped, never returned to the pool. When a connection taken from the pool turns out
    broken (the server restarted, a reset, an idle timeout), the work is retried once on a
    fresh connection; a failure on a fresh connection is raised at once. So a call costs at
    most two connects and two library timeouts, whatever the network does.
    """

    def __init__(self, database=None, size=config.MYSQL_POOL_SIZE):
        self.database = database or config.database()
        self.size = size
        self._idle = []
        self._lock = threading.Lock()

    def _take(self):
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return connect(self.database), False

    def _give_back(self, conn):
        if not conn.open:
            return
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(conn)
                return
        conn.close()

    def _attempt(self, conn, work):
        try:
            with conn.cursor() as cursor:
                result = work(cursor)
        except BaseException:
            if conn.open and conn._result is not None and conn._result.unbuffered_active:
                conn._force_close()  # out of sync: never reuse
            self._give_back(conn)
            raise
        self._give_back(conn)
        return result

    def run(self, work):
        """work(cursor) on a pooled connection; its result."""
        conn, reused = self._take()
        try:
            return self._attempt(conn, work)
        except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
            if not reused or conn.open:
                raise  # a fresh connection failed, or the server answered with an error
        return self._attempt(connect(self.database), work)

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            try:
                conn.close()
            except Exception:
                pass


SCHEMA = [
    """CREATE TABLE IF NOT EXISTS cell (
        radio TINYINT UNSIGNED NOT NULL,
        mcc SMALLINT UNSIGNED NOT NULL,
        mnc SMALLINT UNSIGNED NOT NULL,
        lac INT UNSIGNED NOT NULL,
        cid BIGINT UNSIGNED NOT NULL,
        lat DOUBLE NOT NULL,
        lon DOUBLE NOT NULL,
        radius INT UNSIGNED NOT NULL,
        samples INT UNSIGNED NOT NULL,
        PRIMARY KEY (radio, mcc, mnc, lac, cid)
    ) ENGINE=InnoDB""",
    """CREATE TABLE IF NOT EXISTS wifi (
        mac CHAR(12) NOT NULL,
        lat DOUBLE NOT NULL,
        lon DOUBLE NOT NULL,
        radius INT UNSIGNED NOT NULL,
        samples INT UNSIGNED NOT NULL,
        PRIMARY KEY (mac)
    ) ENGINE=InnoDB""",
]


def create_schema(database=None):
    """Creates the database and tables if missing (idempotent)."""
    database = database or config.database()
    conn = connect()
    try:
        with conn.cursor() as c:
            c.execute("CREATE DATABASE IF NOT EXISTS `%s`" % database.replace("`", ""))
            c.execute("USE `%s`" % database.replace("`", ""))
            for statement in SCHEMA:
                c.execute(statement)
    finally:
        conn.close()


UPSERT_CELL = (
    "INSERT INTO cell (radio, mcc, mnc, lac, cid, lat, lon, radius, samples)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON DUPLICATE KEY UPDATE lat = VALUES(lat), lon = VALUES(lon),"
    " radius = VALUES(radius), samples = VALUES(samples)"
)
UPSERT_WIFI = (
    "INSERT INTO wifi (mac, lat, lon, radius, samples) VALUES (%s, %s, %s, %s, %s)"
    " ON DUPLICATE KEY UPDATE lat = VALUES(lat), lon = VALUES(lon),"
    " radius = VALUES(radius), samples = VALUES(samples)"
)

# The worker's update: a running mean of the observed positions.
OBSERVE_CELL = (
    "INSERT INTO cell (radio, mcc, mnc, lac, cid, lat, lon, radius, samples)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1)"
    " ON DUPLICATE KEY UPDATE lat = (lat * samples + VALUES(lat)) / (samples + 1),"
    " lon = (lon * samples + VALUES(lon)) / (samples + 1), samples = samples + 1"
)
OBSERVE_WIFI = (
    "INSERT INTO wifi (mac, lat, lon, radius, samples) VALUES (%s, %s, %s, %s, 1)"
    " ON DUPLICATE KEY UPDATE lat = (lat * samples + VALUES(lat)) / (samples + 1),"
    " lon = (lon * samples + VALUES(lon)) / (samples + 1), samples = samples + 1"
)
