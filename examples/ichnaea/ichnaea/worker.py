"""The worker: moves queued reports into MySQL (running means of station positions).

At-least-once: a batch is read (LRANGE), stored, and only then removed (LTRIM); a failure in
between leaves it queued for the next run.
"""
from . import db


def drain(queue, pool, batch=100):
    """Stores queued reports until the queue is empty; the number stored."""
    stored = 0
    while True:
        reports = queue.peek(batch)
        if not reports:
            return stored
        cells, wifis = [], []
        for r in reports:
            radius = max(int(r.get("accuracy") or 0), 1)
            for radio, mcc, mnc, lac, cid in r["cells"]:
                cells.append((radio, mcc, mnc, lac, cid, r["lat"], r["lon"], max(radius, 1000)))
            for mac in r["wifis"]:
                wifis.append((mac, r["lat"], r["lon"], max(radius, 100)))

        def store(cursor):
            if cells:
                cursor.executemany(db.OBSERVE_CELL, cells)
            if wifis:
                cursor.executemany(db.OBSERVE_WIFI, wifis)

        pool.run(store)
        queue.remove(len(reports))
        stored += len(reports)
