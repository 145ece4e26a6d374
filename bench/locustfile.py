"""The realistic mix of the load test (run by bench/load.py, which writes the sample file).

Most traffic is the public map (vector tiles, features, search, parcel facts); verified users
check restrictions; surveyors upload now and then. Weights follow a registry office's day.
"""

from __future__ import annotations

import json
import math
import os
import random

from locust import FastHttpUser, between, task

SAMPLE = json.loads(open(os.environ["CADASTRE_LOAD_SAMPLE"], encoding="utf-8").read())


def _tile(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, y, x


class PublicMapUser(FastHttpUser):
    weight = 12
    wait_time = between(0.0, 0.2)

    @task(10)
    def tile(self) -> None:
        lon, lat = random.choice(SAMPLE["points"])
        z, y, x = _tile(lon, lat, random.choice((14, 15, 16)))
        self.client.get(f"/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt", name="tile z14-16")

    @task(3)
    def features(self) -> None:
        lon, lat = random.choice(SAMPLE["points"])
        d = 0.002
        self.client.get(f"/ogc/collections/parcels/items?f=json&limit=100&bbox={lon - d},{lat - d},{lon + d},{lat + d}",
                        name="features bbox")

    @task(3)
    def search(self) -> None:
        q = random.choice(SAMPLE["codes"])[: random.choice((12, 15, 19))]
        self.client.get(f"/api/search?q={q}", name="search")

    @task(2)
    def parcel(self) -> None:
        self.client.get(f"/api/parcels/{random.choice(SAMPLE['codes'])}", name="parcel facts")


class VerifiedUser(FastHttpUser):
    weight = 3
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {SAMPLE['tokens']['citizen']}"}

    @task
    def check(self) -> None:
        self.client.get(f"/api/check?unit_number={random.choice(SAMPLE['units'])}&purpose=transaction",
                        headers=self.headers, name="restriction check")


class SurveyorUser(FastHttpUser):
    weight = 1
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {SAMPLE['tokens']['surveyor']}"}

    @task
    def upload(self) -> None:
        files = {"file": ("survey.txt", SAMPLE["upload"].encode("utf-8"), "text/plain")}
        self.client.post("/api/submissions", files=files, headers=self.headers, name="upload (validate, draft)")
