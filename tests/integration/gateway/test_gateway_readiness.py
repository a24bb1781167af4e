"""A short Redis outage: the gateway stays in its Service and answers 503 problem+json itself."""

from __future__ import annotations

import time

from werkzeug.test import Client

from gateway import create_app

GRACE = 1  # seconds: READINESS_GRACE_SECONDS, small so that the test outlasts it


def test_readyz_tolerates_a_redis_outage_for_the_grace_then_fails(
    redis_url, redis_client, signing_key, token_for, redis_unreachable
):
    app = create_app({"REDIS_URL": redis_url, "READINESS_GRACE_SECONDS": str(GRACE), "USER_URL": "http://127.0.0.1:9"})
    app.keys.url = None
    app.keys.load({"keys": [signing_key.public_jwk]})
    client = Client(app)
    ops = f"http://localhost:{app.ops_port}"  # readiness answers on the gateway's ops port
    assert client.get("/readyz", base_url=ops).json == {"status": "ready", "checks": {"redis": "ok"}}

    with redis_unreachable(app.redis):
        ready = client.get("/readyz", base_url=ops)
        assert ready.status_code == 200, ready.data
        assert ready.json["status"] == "degraded" and ready.json["checks"] == {"redis": "down"}
        assert ready.json["grace_seconds"] == GRACE and "redis" in ready.json["down_seconds"]

        # Meanwhile this live pod answers requests with the documented 503, not a dropped connection.
        refused = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token_for()}"})
        assert refused.status_code == 503 and refused.content_type == "application/problem+json"
        assert refused.json["code"] == "auth.revocation_unavailable" and int(refused.headers["Retry-After"]) > 0

        time.sleep(GRACE + 0.2)
        gone = client.get("/readyz", base_url=ops)
        assert gone.status_code == 503 and gone.content_type == "application/problem+json"
        assert gone.json["code"] == "not_ready" and gone.headers["Retry-After"]

    back = client.get("/readyz", base_url=ops)
    assert back.status_code == 200 and back.json == {"status": "ready", "checks": {"redis": "ok"}}
