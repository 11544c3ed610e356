"""The HTTP API as a WSGI application: POST /v1/geolocate and POST /v2/geosubmit.

200 with a position, 404 when nothing is known, 400 on an invalid body, 503 when MySQL or
Redis cannot be reached.
"""
import json

import pymysql
import redis

from . import api, db, queue


class Application:
    def __init__(self, pool=None, report_queue=None):
        self.pool = pool or db.Pool()
        self.queue = report_queue or queue.ReportQueue()

    def handle(self, method, path, body):
        """(status, JSON-able answer) for one request; body is bytes."""
        if method != "POST" or path not in ("/v1/geolocate", "/v2/geosubmit"):
            return 404, {"error": "not found"}
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return 400, {"error": "invalid JSON"}
        try:
            if path == "/v1/geolocate":
                found = api.search(self.pool, data)
                if found is None:
                    return 404, {"error": "not found"}
                return 200, found
            return 200, {"queued": api.submit(self.queue, data)}
        except api.ValidationError as e:
            return 400, {"error": str(e)}
        except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as e:
            return 503, {"error": "database unavailable: %s" % (e,)}
        except redis.exceptions.RedisError as e:
            return 503, {"error": "queue unavailable: %s" % (e,)}

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        status, answer = self.handle(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), body)
        out = json.dumps(answer).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}
        start_response("%d %s" % (status, reason[status]),
                       [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
        return [out]

    def close(self):
        self.pool.close()
        self.queue.close()
