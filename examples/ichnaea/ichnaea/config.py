"""Configuration from the environment.

ICHNAEA_MYSQL and ICHNAEA_REDIS are host:port (defaults 127.0.0.1:3306 and 127.0.0.1:6379).
MySQL is used as root with an empty password, database ICHNAEA_DATABASE (default ichnaea).
"""
import os

# Library timeouts, seconds. Every network call ends within these, so a fault (packets
# dropped, a server that accepts and never answers) costs a bounded time per call.
MYSQL_CONNECT_TIMEOUT = 1.0
MYSQL_READ_TIMEOUT = 2.0
MYSQL_WRITE_TIMEOUT = 2.0
MYSQL_POOL_SIZE = 3
REDIS_CONNECT_TIMEOUT = 1.0
REDIS_SOCKET_TIMEOUT = 1.5
REDIS_MAX_CONNECTIONS = 4

QUEUE_KEY = "queue:reports"


def host_port(value, default_port):
    host, sep, port = value.strip().rpartition(":")
    if not sep:
        return value.strip(), default_port
    return host.strip("[]"), int(port)


def mysql_address():
    return host_port(os.environ.get("ICHNAEA_MYSQL") or "127.0.0.1:3306", 3306)


def redis_address():
    return host_port(os.environ.get("ICHNAEA_REDIS") or "127.0.0.1:6379", 6379)


def database():
    return os.environ.get("ICHNAEA_DATABASE") or "ichnaea"
