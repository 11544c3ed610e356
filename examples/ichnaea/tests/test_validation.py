"""Invalid bodies are refused before any server is asked (these pass under every fault)."""
import pytest

CELL = {"radioType": "lte", "mobileCountryCode": 262, "mobileNetworkCode": 1,
        "locationAreaCode": 100, "cellId": 10000}
WIFI = {"macAddress": "02:00:00:00:00:01"}
POS = {"latitude": 52.5, "longitude": 13.4, "accuracy": 10}

BAD_GEOLOCATE = {
    "not an object": [1, 2],
    "no stations": {},
    "unknown radio": {"cellTowers": [dict(CELL, radioType="5g-ish")]},
    "mcc zero": {"cellTowers": [dict(CELL, mobileCountryCode=0)]},
    "cid too large": {"cellTowers": [dict(CELL, cellId=2 ** 40)]},
    "lac a string": {"cellTowers": [dict(CELL, locationAreaCode="100")]},
    "mac too short": {"wifiAccessPoints": [{"macAddress": "02:00:00:00:01"}]},
    "multicast mac": {"wifiAccessPoints": [{"macAddress": "01:00:5e:00:00:01"}]},
    "zero mac": {"wifiAccessPoints": [{"macAddress": "00:00:00:00:00:00"}]},
    "stations not a list": {"wifiAccessPoints": WIFI},
    "too many wifis": {"wifiAccessPoints": [{"macAddress": "02%010x" % i} for i in range(51)]},
}

BAD_GEOSUBMIT = {
    "no items": {},
    "empty items": {"items": []},
    "too many items": {"items": [{"position": POS, "wifiAccessPoints": [WIFI]}] * 101},
    "no position": {"items": [{"wifiAccessPoints": [WIFI]}]},
    "latitude out of range": {"items": [{"position": dict(POS, latitude=91),
                                         "wifiAccessPoints": [WIFI]}]},
    "longitude not a number": {"items": [{"position": dict(POS, longitude="13.4"),
                                          "wifiAccessPoints": [WIFI]}]},
    "negative accuracy": {"items": [{"position": dict(POS, accuracy=-1),
                                     "wifiAccessPoints": [WIFI]}]},
    "no valid station": {"items": [{"position": POS, "cellTowers": [dict(CELL, cellId=0)]}]},
}


@pytest.mark.parametrize("body", BAD_GEOLOCATE.values(), ids=BAD_GEOLOCATE.keys())
def test_geolocate_refuses(post, body):
    status, answer = post("/v1/geolocate", body)
    assert status == 400, answer


@pytest.mark.parametrize("body", BAD_GEOSUBMIT.values(), ids=BAD_GEOSUBMIT.keys())
def test_geosubmit_refuses(post, body):
    status, answer = post("/v2/geosubmit", body)
    assert status == 400, answer


def test_invalid_json(post):
    assert post("/v1/geolocate", b"{not json")[0] == 400


def test_unknown_path(post):
    assert post("/v1/nothing", {})[0] == 404
