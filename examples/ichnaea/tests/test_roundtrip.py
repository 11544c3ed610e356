"""Submit -> worker -> search: reports of stations new to this run become searchable."""
from ichnaea import worker

from test_submit import fresh_wifis, report


def test_submitted_stations_become_searchable(post, pool, redis_clean, mysql_seeded):
    wifis = fresh_wifis(3)
    lat, lon = 52.45, 13.25
    status, answer = post("/v1/geolocate", {"wifiAccessPoints": wifis})
    assert status == 404, answer

    items = [report(lat + d, lon - d, wifis) for d in (-0.0002, 0.0, 0.0002)]
    assert post("/v2/geosubmit", {"items": items}) == (200, {"queued": 3})
    assert worker.drain(redis_clean, pool) >= 3
    assert redis_clean.length() == 0

    status, answer = post("/v1/geolocate", {"wifiAccessPoints": wifis})
    assert status == 200, answer
    assert answer["source"] == "wifi"
    assert abs(answer["location"]["lat"] - lat) < 1e-6
    assert abs(answer["location"]["lng"] - lon) < 1e-6
