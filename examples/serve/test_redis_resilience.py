"""A test suite that switches faults from its own code, through Toxiproxy's Python client.

It runs unchanged against Toxiproxy or `netfault serve`; with netfault's kernel backend the
faults are in the kernel, so they reach the application's direct connections as well.

    sudo netfault serve &                       # or: netfault serve --backend proxy
    python -m unittest examples/serve/test_redis_resilience.py

Environment: TOXIPROXY_PORT (8474), REDIS_PORT (6379), PROXY_PORT (26379).
Needs toxiproxy-python (PyPI) and redis-py; scripts/install-deps puts both in
/opt/netfault/toxiproxy.
"""
import os
import time
import unittest
import urllib.request

import redis
from toxiproxy import Toxiproxy

API_PORT = int(os.environ.get("TOXIPROXY_PORT", "8474"))
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
PROXY_PORT = int(os.environ.get("PROXY_PORT", "26379"))


def wait_for_api(url, seconds=30):
    """Until the server answers: `netfault serve &` may still be starting when the suite does."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class RedisResilience(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        wait_for_api(f"http://127.0.0.1:{API_PORT}/version")
        cls.toxiproxy = Toxiproxy()
        cls.toxiproxy.update_api_consumer("127.0.0.1", API_PORT)
        cls.toxiproxy.destroy_all()
        cls.proxy = cls.toxiproxy.create(
            name="redis", upstream=f"127.0.0.1:{REDIS_PORT}", listen=f"127.0.0.1:{PROXY_PORT}")

    @classmethod
    def tearDownClass(cls):
        cls.toxiproxy.destroy_all()

    def tearDown(self):
        self.toxiproxy.reset()  # every proxy up, every toxic gone: the next test starts clean

    def client(self):
        # The application's client, with the timeouts it runs with in production.
        return redis.Redis(host="127.0.0.1", port=PROXY_PORT, socket_timeout=0.5, socket_connect_timeout=0.5)

    def test_a_hung_server_times_out_within_the_socket_timeout(self):
        r = self.client()
        self.assertTrue(r.ping())
        self.proxy.add_toxic(type="timeout", attributes={"timeout": 0})
        start = time.monotonic()
        with self.assertRaises(redis.exceptions.TimeoutError):
            self.client().ping()
        self.assertLess(time.monotonic() - start, 2.0)

    def test_latency_below_the_timeout_only_slows_requests(self):
        self.proxy.add_toxic(type="latency", attributes={"latency": 100})
        if "latency_downstream" not in self.proxy.toxics():
            # The client ignores a 501: netfault's kernel backend on a kernel without netem.
            self.skipTest("the server could not add a latency toxic here (a kernel without netem?)")
        r = self.client()
        start = time.monotonic()
        self.assertTrue(r.ping())
        self.assertGreaterEqual(time.monotonic() - start, 0.1)

    def test_the_client_reconnects_after_the_server_comes_back(self):
        r = self.client()
        self.assertTrue(r.ping())
        with self.proxy.down():
            with self.assertRaises(redis.exceptions.ConnectionError):
                self.client().ping()
        self.assertTrue(self.client().ping())


if __name__ == "__main__":
    unittest.main()
