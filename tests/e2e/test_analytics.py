"""Correlations, patterns and insights through the gateway on the real fleet: insights appear in
the background (consumer, debounce, Celery countdown task) after entries are recorded."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.e2e


def test_analytics_through_the_gateway(people):
    (alice, a), (bob, _b) = people(2)
    now = datetime.now(UTC)
    for n in range(1, 31):  # 30 days in a row; every third a walk, and those days go better
        walk = n % 3 == 0
        response = alice.post(
            "/api/v1/moods",
            json={
                "mood": "calm",
                "intensity": 0.5,
                "valence": 0.8 if walk else 0.4 + 0.02 * (n % 4),
                "tags": ["walk"] if walk else [],
                "recorded_at": (now - timedelta(days=n)).isoformat(),  # yesterday back: a current streak
            },
        )
        assert response.status_code == 201, response.text

    correlations = alice.get("/api/v1/analytics/correlations/me", params={"period": "quarter"})
    assert correlations.status_code == 200
    [walk] = [f for f in correlations.json()["factors"] if f["factor"] == "tag:walk"]
    assert walk["sample_size"] == {"with": 10, "without": 20} and walk["significant"]
    patterns = alice.get(f"/api/v1/analytics/patterns/{a['user']['id']}")
    assert patterns.status_code == 200 and patterns.json()["days"] == 30

    deadline, kinds = time.time() + 90, set()
    while time.time() < deadline and not {"improvement", "streak"} <= kinds:
        time.sleep(0.5)
        kinds = {i["type"] for i in alice.get("/api/v1/analytics/insights/me").json()["items"]}
    assert {"improvement", "streak"} <= kinds

    for path in ("correlations", "patterns", "insights"):
        assert bob.get(f"/api/v1/analytics/{path}/{a['user']['id']}").status_code == 403
    bad = alice.get("/api/v1/analytics/correlations/me", params={"period": "decade"})
    assert bad.status_code == 422 and bad.headers["Content-Type"] == "application/problem+json"
