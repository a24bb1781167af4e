"""A registered user in an integration test: requests to the service under test (its Flask test
client), and their settings and friendships through the real user service over HTTP."""

from __future__ import annotations

from typing import Any

import requests
from flask.testing import FlaskClient


class Person:
    def __init__(self, client: FlaskClient, user_server: str, user_id: str, token: str, username: str):
        self.client, self.user_server = client, user_server
        self.id, self.token, self.username = user_id, token, username
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **kw: Any):
        return self.client.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, path: str, **kw: Any):
        return self.client.post(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def put(self, path: str, **kw: Any):
        return self.client.put(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def delete(self, path: str, **kw: Any):
        return self.client.delete(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def users(self, method: str, path: str, **kw: Any) -> requests.Response:
        response = requests.request(method, self.user_server + path, headers=self.headers, timeout=5, **kw)
        assert response.status_code < 300, response.text
        return response

    def set_privacy(self, **settings: Any) -> None:
        self.users("PUT", "/api/v1/users/me/privacy", json=settings)

    def set_timezone(self, zone: str) -> None:
        self.users("PUT", "/api/v1/users/me", json={"timezone": zone})

    def befriend(self, other: Person) -> None:
        self.users("POST", f"/api/v1/users/{other.id}/friends")
        other.users("PUT", f"/api/v1/users/me/friends/{self.id}", json={"status": "accepted"})

    def block(self, other: Person) -> None:
        self.users("PUT", f"/api/v1/users/me/friends/{other.id}", json={"status": "blocked"})
