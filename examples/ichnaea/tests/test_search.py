"""The search path against the seeded MySQL tables: two queries per lookup (wifis, cells)."""
import pytest

import seed

SITES = seed.SITES


@pytest.mark.parametrize("site", SITES, ids=repr)
def test_wifi_position(post, mysql_seeded, site):
    status, answer = post("/v1/geolocate", {"cellTowers": site.cell_towers(),
                                            "wifiAccessPoints": site.wifi_access_points()})
    assert status == 200, answer
    assert answer["source"] == "wifi"
    loc = answer["location"]
    assert seed.distance_m(loc["lat"], loc["lng"], site.lat, site.lon) < 100
    assert answer["accuracy"] >= 100


@pytest.mark.parametrize("site", SITES[::4], ids=repr)
def test_cell_position(post, mysql_seeded, site):
    status, answer = post("/v1/geolocate", {"cellTowers": site.cell_towers()})
    assert status == 200, answer
    assert answer["source"] == "cell"
    loc = answer["location"]
    assert seed.distance_m(loc["lat"], loc["lng"], site.lat, site.lon) < 1500
    assert answer["accuracy"] == 2000


def test_one_wifi_is_not_enough(post, mysql_seeded):
    site = SITES[7]
    status, answer = post("/v1/geolocate", {"cellTowers": site.cell_towers(),
                                            "wifiAccessPoints": site.wifi_access_points()[:1]})
    assert status == 200, answer
    assert answer["source"] == "cell"


def test_unknown_stations(post, mysql_seeded):
    status, answer = post("/v1/geolocate", {
        "cellTowers": [{"radioType": "gsm", "mobileCountryCode": 1, "mobileNetworkCode": 2,
                        "locationAreaCode": 3, "cellId": 4}],
        "wifiAccessPoints": [{"macAddress": "06:ff:ff:ff:ff:%02x" % i} for i in range(3)]})
    assert status == 404, answer


def test_unknown_wifis_fall_back_to_cell(post, mysql_seeded):
    site = SITES[42]
    status, answer = post("/v1/geolocate", {
        "cellTowers": site.cell_towers(),
        "wifiAccessPoints": [{"macAddress": "06:ff:ff:ff:ff:%02x" % i} for i in range(3)]})
    assert status == 200, answer
    assert answer["source"] == "cell"
