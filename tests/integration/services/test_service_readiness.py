"""A short Redis outage: a service stays in its Service and answers 503 problem+json itself."""

from __future__ import annotations

import time

from services.user import create_app

GRACE = 1  # seconds: READINESS_GRACE_SECONDS, small so that the test outlasts it


def test_readyz_tolerates_a_redis_outage_for_the_grace_then_fails(
    base_config, redis_client, signing_key, token_for, redis_unreachable
):
    app = create_app({**base_config, "READINESS_GRACE_SECONDS": str(GRACE)})
    keys = app.extensions["jwks"]
    keys.url = None
    keys.load({"keys": [signing_key.public_jwk]})
    client = app.test_client()
    assert client.get("/readyz").json == {"status": "ready", "checks": {"redis": "ok", "database": "ok"}}

    with redis_unreachable(app.extensions["redis"]):
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.data
        assert ready.json["status"] == "degraded"
        assert ready.json["checks"] == {"redis": "down", "database": "ok"}

        refused = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token_for()}"})
        assert refused.status_code == 503 and refused.content_type == "application/problem+json"
        assert refused.json["code"] == "auth.revocation_unavailable" and int(refused.headers["Retry-After"]) > 0

        time.sleep(GRACE + 0.2)
        gone = client.get("/readyz")
        assert gone.status_code == 503 and gone.content_type == "application/problem+json"
        assert gone.json["code"] == "not_ready" and gone.headers["Retry-After"]

    assert client.get("/readyz").json["status"] == "ready"
