"""One GraphQL request's calls to the services: the caller's identity passed through, every
refusal turned into a GraphQL error carrying the REST problem's code and status."""

from __future__ import annotations

from typing import Any

from graphql_gateway.errors import problem_error
from graphql_gateway.loaders import Loaders
from shared.errors import ProblemError
from shared.http import ServiceClient
from shared.ratelimit import Limiter, strict_bucket


class Context:
    """What every resolver of one request reaches through `info.context`."""

    def __init__(
        self,
        client: ServiceClient,
        authorization: str | None,
        client_ip: str,
        limiter: Limiter,
        config: Any,
    ):
        self.client = client
        self.authorization = authorization
        self.client_ip = client_ip
        self.limiter = limiter
        self.config = config
        self.loaders = Loaders(self)

    def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        public: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """Call a service as the caller (`public`: as nobody, from the caller's address); the
        decoded body, None for 204; a GraphQL error for anything but 2xx."""
        headers = {"X-Real-IP": self.client_ip}
        if self.authorization and not public:
            headers["Authorization"] = self.authorization
        try:
            extra = {} if timeout is None else {"timeout": (self.client.timeout[0], timeout)}
            response = self.client.request(
                method, service, path, authenticate=False, headers=headers, params=params, json=json, **extra
            )
        except ProblemError as exc:  # down, timed out, or its circuit open
            raise problem_error(
                f"The {service} service is unavailable: {exc.detail}", exc.code, exc.status, service
            ) from exc
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            problem = body if isinstance(body, dict) else {}
            status = response.status_code
            raise problem_error(
                str(problem.get("detail") or f"The {service} service answered {status}."),
                str(problem.get("code") or "upstream_error"),
                status,
                service,
                errors=problem.get("errors"),
            )
        return body

    def count_auth_attempt(self, kind: str) -> None:
        """Count a login or register against the per-IP limit the REST routes share."""
        verdict = self.limiter.check_strict(
            [strict_bucket(self.client_ip, kind, self.config["GATEWAY_AUTH_RATE_LIMIT"])]
        )
        if not verdict.allowed:
            raise problem_error("Too many requests; slow down.", "rate_limited", 429, retryAfter=max(verdict.reset, 1))
