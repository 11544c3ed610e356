"""Redis: the report queue, through a redis-py ConnectionPool with library timeouts.

Round-trip counting (see ichnaea.metrics): CountingRedisConnection subclasses redis-py's
Connection and hooks
  - _connect(): 1 per TCP connect attempt (redis-py calls it once per attempt; it may retry a
    failed connect once, which counts again);
  - send_packed_command(): arms "awaiting a reply";
  - read_response(): the first read after a send counts 1 and disarms.
A command is one send and one read: 1. A pipeline (MULTI/EXEC or not) sends all its commands
in one send_packed_command and then reads one reply per command: 1. The pool's non-blocking
can_read() check on checkout does not wait, and is not counted. With no password, client name
or db number, redis-py sends nothing on connect, so a connect is 1.
"""
import json

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import config, metrics


class CountingRedisConnection(redis.connection.Connection):
    _awaiting_reply = False

    def _connect(self):
        self._awaiting_reply = False
        metrics.count("round_trips.redis")
        metrics.count("connects.redis")
        return super()._connect()

    def send_packed_command(self, command, check_health=True):
        self._awaiting_reply = True
        metrics.count("commands.redis")
        return super().send_packed_command(command, check_health=check_health)

    def read_response(self, *args, **kwargs):
        if self._awaiting_reply:
            self._awaiting_reply = False
            metrics.count("round_trips.redis")
        return super().read_response(*args, **kwargs)


def make_client():
    host, port = config.redis_address()
    pool = redis.ConnectionPool(
        connection_class=CountingRedisConnection,
        host=host,
        port=port,
        socket_connect_timeout=config.REDIS_CONNECT_TIMEOUT,
        socket_timeout=config.REDIS_SOCKET_TIMEOUT,
        max_connections=config.REDIS_MAX_CONNECTIONS,
        # One retry, on a fresh connection, when a pooled connection turns out closed or
        # reset. Not on a timeout: the command may have run, and waiting twice doubles the cost.
        retry_on_error=[redis.exceptions.ConnectionError],
        retry=Retry(NoBackoff(), 1),
    )
    return redis.Redis(connection_pool=pool)


class ReportQueue:
    def __init__(self, client=None, key=config.QUEUE_KEY):
        self.client = client or make_client()
        self.key = key

    def push(self, reports):
        """Queues reports (dicts); the queue's new length. One round trip."""
        if not reports:
            return self.client.llen(self.key)
        return self.client.rpush(self.key, *[json.dumps(r, sort_keys=True) for r in reports])

    def peek(self, limit):
        return [json.loads(item) for item in self.client.lrange(self.key, 0, limit - 1)]

    def remove(self, n):
        """Drops the first n reports (after they were stored)."""
        self.client.ltrim(self.key, n, -1)

    def length(self):
        return self.client.llen(self.key)

    def clear(self):
        self.client.delete(self.key)

    def close(self):
        self.client.connection_pool.disconnect()
