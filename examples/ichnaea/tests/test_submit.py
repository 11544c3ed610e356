"""The submit path: validated reports are queued to Redis."""
import json
import random

from ichnaea import config


def fresh_wifis(n):
    rng = random.SystemRandom()  # stations of this run only: never a seeded one
    return [{"macAddress": "0a%010x" % rng.getrandbits(40)} for _ in range(n)]


def report(lat, lon, wifis, cells=()):
    return {"position": {"latitude": lat, "longitude": lon, "accuracy": 15},
            "wifiAccessPoints": wifis, "cellTowers": list(cells)}


def test_submit_queues_reports(post, redis_clean):
    before = redis_clean.length()
    items = [report(52.1 + i / 100, 13.2, fresh_wifis(3)) for i in range(5)]
    status, answer = post("/v2/geosubmit", {"items": items})
    assert status == 200, answer
    assert answer == {"queued": 5}
    assert redis_clean.length() == before + 5


def test_submit_keeps_only_valid_items(post, redis_clean):
    good = report(52.2, 13.3, fresh_wifis(2))
    bad = report(120, 13.3, fresh_wifis(2))
    status, answer = post("/v2/geosubmit", {"items": [bad, good, {"position": "x"}]})
    assert status == 200, answer
    assert answer == {"queued": 1}
    last = json.loads(redis_clean.client.lindex(config.QUEUE_KEY, -1))
    assert last["lat"] == 52.2 and len(last["wifis"]) == 2


def test_submit_normalises_stations(post, redis_clean):
    wifis = fresh_wifis(2)
    dup = dict(wifis[0], macAddress=wifis[0]["macAddress"].upper())
    cell = {"radioType": "wcdma", "mobileCountryCode": 262, "mobileNetworkCode": 2,
            "locationAreaCode": 7, "cellId": random.randint(1 << 20, 1 << 27)}
    status, answer = post("/v2/geosubmit", {"items": [report(52.3, 13.1, wifis + [dup], [cell])]})
    assert status == 200, answer
    last = json.loads(redis_clean.client.lindex(config.QUEUE_KEY, -1))
    assert sorted(last["wifis"]) == sorted(w["macAddress"] for w in wifis)
    assert last["cells"] == [[1, 262, 2, 7, cell["cellId"]]]
