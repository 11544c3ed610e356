"""Deterministic seed data: sites (a true position with the cells and wifis seen there) and
unrelated stations around them. Loaded with upserts, so a run restores every seeded row
whatever an earlier run left."""
import math
import random

from ichnaea import db

N_SITES = 800
N_OTHER = 30000
MCC, MNC, LTE = 262, 1, 2
SEED_BATCH = 2000


class Site:
    def __init__(self, index, lat, lon):
        self.index, self.lat, self.lon = index, lat, lon
        self.cells = []  # (radio, mcc, mnc, lac, cid, lat, lon, radius, samples)
        self.wifis = []  # (mac, lat, lon, radius, samples)

    def __repr__(self):
        return "site%d" % self.index

    def cell_towers(self):
        return [{"radioType": "lte", "mobileCountryCode": c[1], "mobileNetworkCode": c[2],
                 "locationAreaCode": c[3], "cellId": c[4]} for c in self.cells]

    def wifi_access_points(self):
        return [{"macAddress": ":".join(w[0][i:i + 2] for i in range(0, 12, 2)),
                 "signalStrength": -50 - 5 * n} for n, w in enumerate(self.wifis)]


def _near(rng, lat, lon, metres):
    dlat = rng.uniform(-metres, metres) / 111_320
    dlon = rng.uniform(-metres, metres) / (111_320 * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def _build():
    rng = random.Random(20240601)
    sites = []
    for i in range(N_SITES):
        site = Site(i, 52.3 + rng.random() * 0.4, 13.1 + rng.random() * 0.6)
        for j in range(2):
            lat, lon = _near(rng, site.lat, site.lon, 700)
            site.cells.append((LTE, MCC, MNC, 100 + i // 10, 10_000 + 4 * i + j, lat, lon, 2000,
                               rng.randint(5, 50)))
        for j in range(4):
            lat, lon = _near(rng, site.lat, site.lon, 50)
            site.wifis.append(("02%010x" % (16 * i + j), lat, lon, 100, rng.randint(1, 20)))
        sites.append(site)
    other_cells, other_wifis = [], []
    for k in range(N_OTHER):
        lat, lon = 52.0 + rng.random(), 12.8 + rng.random() * 1.2
        other_cells.append((LTE, MCC, MNC, 500 + k // 50, 200_000 + k, lat, lon, 3000, 3))
        lat, lon = 52.0 + rng.random(), 12.8 + rng.random() * 1.2
        other_wifis.append(("04%010x" % k, lat, lon, 100, 2))
    return sites, other_cells, other_wifis


SITES, OTHER_CELLS, OTHER_WIFIS = _build()


def load(pool):
    """Creates the schema if missing and upserts every seeded row (idempotent)."""
    db.create_schema(pool.database)
    cells = [c for s in SITES for c in s.cells] + OTHER_CELLS
    wifis = [w for s in SITES for w in s.wifis] + OTHER_WIFIS

    # Batches of 2,000 rows: PyMySQL would send ~1 MB statements, one of which took 0.45 s of
    # the application's 2 s read timeout in user-mode Linux beside other work; 2,000 rows take
    # about 0.05 s, so a slow machine's seed cannot fail the session setup of every test.
    def upsert(cursor):
        for statement, rows in ((db.UPSERT_CELL, cells), (db.UPSERT_WIFI, wifis)):
            for start in range(0, len(rows), SEED_BATCH):
                cursor.executemany(statement, rows[start:start + SEED_BATCH])

    pool.run(upsert)


def distance_m(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))
