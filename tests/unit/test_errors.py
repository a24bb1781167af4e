import json

import jwt
import pytest
import redis
from flask import Flask
from flask_jwt_extended.exceptions import NoAuthorizationError, RevokedTokenError
from marshmallow import Schema, fields
from sqlalchemy import exc as sa_exc

from shared.api import Api
from shared.errors import ProblemError, to_problem


class Body(Schema):
    n = fields.Integer(required=True)


@pytest.mark.parametrize(
    "exc,status,code",
    [
        (jwt.ExpiredSignatureError("x"), 401, "auth.token_expired"),
        (jwt.InvalidSignatureError("x"), 401, "auth.token_invalid"),
        (jwt.DecodeError("x"), 401, "auth.token_invalid"),
        (NoAuthorizationError("x"), 401, "auth.token_missing"),
        (RevokedTokenError({}, {}), 401, "auth.token_revoked"),
    ],
)
def test_token_errors_become_401(exc, status, code):
    problem = to_problem(exc)
    assert (problem.status, problem.code) == (status, code)


def test_unexpected_errors_become_a_500_without_internals():
    problem = to_problem(RuntimeError("password=hunter2 at line 3"))
    assert problem.status == 500 and "hunter2" not in problem.detail


@pytest.mark.parametrize(
    "exc,code",
    [
        (sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"), "database.busy"),
        (sa_exc.OperationalError("SELECT 1", {}, Exception("could not connect to server")), "database.unavailable"),
        (redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379"), "redis.unavailable"),
    ],
)
def test_a_dependency_down_or_saturated_is_a_503_with_retry_after_and_no_internals(exc, code):
    problem = to_problem(exc)
    assert (problem.status, problem.code) == (503, code)
    assert int(problem.headers["Retry-After"]) >= 1
    assert "6379" not in problem.detail and "QueuePool" not in problem.detail


def test_flask_restful_routes_render_jwt_and_validation_errors_as_problem_json():
    app = Flask("t")
    api = Api(app)

    from flask_restful import Resource

    class Thing(Resource):
        def get(self):
            raise jwt.ExpiredSignatureError("expired")

        def post(self):
            return Body().load({"n": "nope", "extra": 1})

    api.add_resource(Thing, "/thing")
    client = app.test_client()
    expired = client.get("/thing")
    assert expired.status_code == 401 and expired.content_type == "application/problem+json"
    invalid = client.post("/thing", json={})
    assert invalid.status_code == 422
    assert set(json.loads(invalid.data)["errors"]) == {"n", "extra"}


def test_problem_error_carries_headers():
    problem = to_problem(ProblemError("boom", headers={"Retry-After": "3"}))
    assert problem.headers == {"Retry-After": "3"}
