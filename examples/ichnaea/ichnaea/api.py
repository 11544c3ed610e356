"""The two paths: submit (validate, queue to Redis) and search (MySQL, weighted estimate).

Bodies follow Ichnaea's (Google-style) JSON:
  geolocate:  {"cellTowers": [{"radioType": "lte", "mobileCountryCode": 262,
                 "mobileNetworkCode": 1, "locationAreaCode": 1234, "cellId": 56789}],
               "wifiAccessPoints": [{"macAddress": "02:00:00:00:00:01", "signalStrength": -60}]}
  geosubmit:  {"items": [{"position": {"latitude": .., "longitude": .., "accuracy": ..},
                 "cellTowers": [...], "wifiAccessPoints": [...]}]}
"""
import math
import re

RADIOS = {"gsm": 0, "wcdma": 1, "lte": 2}
MAX_ITEMS = 100
MAX_STATIONS = 50
MIN_WIFIS = 2  # as Ichnaea: one wifi alone is not used (privacy), a cell answers instead
WIFI_MIN_RADIUS = 50
CELL_MIN_RADIUS = 500
_MAC = re.compile(r"^[0-9a-f]{12}$")


class ValidationError(ValueError):
    pass


def _int(value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value


def _number(value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or not low <= value <= high:
        return None
    return float(value)


def valid_cell(cell):
    """A cell tower's key (radio, mcc, mnc, lac, cid), or None when invalid."""
    if not isinstance(cell, dict):
        return None
    radio = RADIOS.get(cell.get("radioType"))
    key = (
        radio,
        _int(cell.get("mobileCountryCode"), 1, 999),
        _int(cell.get("mobileNetworkCode"), 0, 999),
        _int(cell.get("locationAreaCode"), 1, 65535),
        _int(cell.get("cellId"), 1, 268435455),
    )
    return None if None in key else key


def valid_mac(wifi):
    """A wifi's normalised MAC (12 lower-case hex digits), or None when invalid: not a
    string of 12 hex digits, or a multicast / all-zero address."""
    if not isinstance(wifi, dict) or not isinstance(wifi.get("macAddress"), str):
        return None
    mac = re.sub(r"[:\-.]", "", wifi["macAddress"]).lower()
    if not _MAC.match(mac) or mac == "000000000000" or int(mac[:2], 16) & 1:
        return None
    return mac


def _stations(body):
    if not isinstance(body, dict):
        raise ValidationError("body must be a JSON object")
    cells, wifis = body.get("cellTowers", []), body.get("wifiAccessPoints", [])
    if not isinstance(cells, list) or not isinstance(wifis, list):
        raise ValidationError("cellTowers and wifiAccessPoints must be lists")
    if len(cells) > MAX_STATIONS or len(wifis) > MAX_STATIONS:
        raise ValidationError("too many stations")
    cell_keys = sorted({k for k in map(valid_cell, cells) if k})
    macs = sorted({m for m in map(valid_mac, wifis) if m})
    return cell_keys, macs


def parse_geolocate(body):
    """(cell keys, macs) of a geolocate request; ValidationError when it has no valid station."""
    cells, macs = _stations(body)
    if not cells and not macs:
        raise ValidationError("no valid cell or wifi")
    return cells, macs


def parse_geosubmit(body):
    """The valid reports of a geosubmit body, normalised; ValidationError when none is."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ValidationError("items must be a list")
    items = body["items"]
    if not items or len(items) > MAX_ITEMS:
        raise ValidationError("between 1 and %d items" % MAX_ITEMS)
    reports = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("position"), dict):
            continue
        pos = item["position"]
        lat = _number(pos.get("latitude"), -90, 90)
        lon = _number(pos.get("longitude"), -180, 180)
        accuracy = _number(pos.get("accuracy", 0), 0, 1_000_000)
        if lat is None or lon is None or accuracy is None:
            continue
        try:
            cells, macs = _stations(item)
        except ValidationError:
            continue
        if not cells and not macs:
            continue
        reports.append({
            "lat": lat, "lon": lon, "accuracy": accuracy,
            "cells": [list(c) for c in cells], "wifis": macs,
        })
    if not reports:
        raise ValidationError("no valid report")
    return reports


def submit(queue, body):
    """Validates and queues; the number of reports queued."""
    reports = parse_geosubmit(body)
    queue.push(reports)
    return len(reports)


def _estimate(rows, min_radius):
    """Weighted mean of station positions (weight sqrt(samples) / radius); accuracy the
    largest radius, at least min_radius."""
    total = lat = lon = 0.0
    for r_lat, r_lon, radius, samples in rows:
        w = math.sqrt(max(samples, 1)) / max(radius, 1)
        total += w
        lat += w * r_lat
        lon += w * r_lon
    accuracy = max(max(r[2] for r in rows), min_radius)
    return {"lat": round(lat / total, 7), "lng": round(lon / total, 7)}, float(accuracy)


def _select(pool, sql, args):
    def work(cursor):
        cursor.execute(sql, args)
        return list(cursor.fetchall())
    return pool.run(work)


def search(pool, body):
    """The position estimate for a geolocate request, or None when no station is known.
    As Ichnaea, both kinds are looked up (one query each); enough known wifis win over cells."""
    cells, macs = parse_geolocate(body)
    wifi_rows = cell_rows = []
    if macs:
        wifi_rows = _select(pool, "SELECT lat, lon, radius, samples FROM wifi WHERE mac IN (%s)"
                            % ", ".join(["%s"] * len(macs)), macs)
    if cells:
        cell_rows = _select(
            pool,
            "SELECT lat, lon, radius, samples FROM cell WHERE (radio, mcc, mnc, lac, cid) IN (%s)"
            % ", ".join(["(%s, %s, %s, %s, %s)"] * len(cells)),
            [v for key in cells for v in key])
    if len(wifi_rows) >= MIN_WIFIS:
        location, accuracy = _estimate(wifi_rows, WIFI_MIN_RADIUS)
        return {"location": location, "accuracy": accuracy, "source": "wifi"}
    if cell_rows:
        location, accuracy = _estimate(cell_rows, CELL_MIN_RADIUS)
        return {"location": location, "accuracy": accuracy, "source": "cell"}
    return None
