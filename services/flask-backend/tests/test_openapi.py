"""The OpenAPI document is generated from the code and covers every API route."""

from __future__ import annotations

import re

from rookery_backend.policy import ROUTE_POLICY


def test_every_api_route_and_schema_is_documented(api) -> None:
    reply = api.call("GET", "/api/v1/openapi.json")
    assert reply.status_code == 200
    document = reply.get_json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for method, rule in ROUTE_POLICY:  # the docs and the document itself included
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)
        assert method.lower() in paths.get(path, {}), f"{method} {path} missing"
    login = paths["/api/v1/auth/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/LoginIn"
    )
    users = paths["/api/v1/users"]["get"]
    assert {p["name"] for p in users["parameters"]} >= {"status", "role", "q", "page", "per_page"}
    assert users["security"] == [{"bearer": ["users:read"]}, {"apiKey": ["users:read"]}]
    health = paths["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]
    assert health["schema"]["$ref"].endswith("/HealthOut")  # not wrapped in the envelope
    schemas = document["components"]["schemas"]
    for name in (
        "LoginIn",
        "TokenOut",
        "UserOut",
        "RoleOut",
        "ApiKeyCreatedOut",
        "AuditOut",
        "Error",
    ):
        assert name in schemas
    # Every $ref points at a schema that exists.
    text = reply.get_data(as_text=True)
    for ref in set(re.findall(r'"#/components/schemas/(\w+)"', text)):
        assert ref in schemas, ref


def test_swagger_ui_is_served_locally(api) -> None:
    page = api.call("GET", "/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "unpkg" not in html and "<script>" not in html  # no CDN, no inline script
    bundle = api.call("GET", "/api/v1/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and b"SwaggerUIBundle" in bundle.get_data()
    assert bundle.headers["Content-Type"].startswith("text/javascript")
    assert api.call("GET", "/api/v1/docs/swagger-ui.css").status_code == 200
    assert b"/api/v1/openapi.json" in api.call("GET", "/api/v1/docs/init.js").get_data()
    missing = api.call("GET", "/api/v1/docs/..%2Fconfig.py")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def test_every_answer_an_operation_can_give_is_documented(api) -> None:
    paths = api.call("GET", "/api/v1/openapi.json").get_json()["paths"]

    def statuses(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    # A body: malformed JSON, not JSON, too large, invalid fields; the database may be away.
    assert statuses("/api/v1/auth/login", "post") == {
        *("200", "400", "401", "403", "413", "415", "422", "429", "503"),
    }
    # A credential (401/403), a path parameter (404), a conflict the view reports (409).
    assert statuses("/api/v1/users/{user_id}", "patch") == {
        *("200", "400", "401", "403", "404", "409", "413", "415", "422", "503"),
    }
    assert statuses("/api/v1/users/{user_id}", "get") == {"200", "401", "403", "404", "503"}
    # Text path parameters are checked like body text (422).
    assert "422" in statuses("/api/v1/rules/{rule_id}", "get")
    # Liveness and metrics never read the database.
    assert statuses("/healthz", "get") == {"200"} and statuses("/metrics", "get") == {"200"}
    assert statuses("/readyz", "get") == {"200", "503"}
    for path, operations in paths.items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                assert response["description"], (method, path, status)
                if status >= "400":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path)


def test_non_json_answers_name_their_media_types(api) -> None:
    paths = api.call("GET", "/api/v1/openapi.json").get_json()["paths"]

    def media(path: str) -> list[str]:
        return list(paths[path]["get"]["responses"]["200"]["content"])

    assert media("/metrics") == ["text/plain; version=0.0.4"]
    assert media("/api/v1/docs") == ["text/html"]
    assert media("/api/v1/docs/{asset}") == ["text/css", "text/javascript"]
    assert media("/api/v1/openapi.json") == ["application/json"]
    served = api.call("GET", "/metrics").headers["Content-Type"]
    assert served.startswith("text/plain; version=0.0.4")
