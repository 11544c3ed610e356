"""python3 -m ichnaea serve [PORT] | worker | init-db"""
import sys

from . import db, queue, webapp, worker


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "serve":
        from wsgiref.simple_server import make_server
        port = int(argv[2]) if len(argv) > 2 else 8000
        make_server("127.0.0.1", port, webapp.Application()).serve_forever()
    elif cmd == "worker":
        print("stored %d reports" % worker.drain(queue.ReportQueue(), db.Pool()))
    elif cmd == "init-db":
        db.create_schema()
    else:
        print(__doc__, file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
