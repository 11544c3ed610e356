"""A small location service in the shape of Mozilla's Ichnaea.

Submit path: geosubmit reports (a position plus the cell towers and wifi networks seen
there) are validated and queued to Redis. A worker drains the queue into MySQL.
Search path: geolocate requests (cells and wifis seen) are looked up in MySQL and answered
with a weighted position estimate.
"""
