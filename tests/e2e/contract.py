"""Checks real responses against openapi/openapi.yaml: the status must be documented for the
operation, and a JSON body must validate against that response's schema.

`Contract().watch(session)` installs a response hook on a requests session; every response the
session receives afterwards is checked and what does not match is kept in `violations`. conftest.py
watches the session of every ticketd the suite starts and fails the run on any violation.

Answers the document states once for every route rather than per operation are not checked
against the operation: an unknown route (404 ROUTE_NOT_FOUND), a method the path does not have
(405), request headers over the limit (431), and connection-level refusals (429
TOO_MANY_CONNECTIONS, 503 SERVER_BUSY) that come before any route is known.
"""
import copy
import os
import re
import threading
from urllib.parse import urlsplit

import jsonschema
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
METHODS = ("get", "post", "put", "patch", "delete")
EVERY_ROUTE = {405, 431}
BEFORE_ROUTING = {"TOO_MANY_CONNECTIONS", "SERVER_BUSY", "ROUTE_NOT_FOUND"}


def _json_schema(node):
    """OpenAPI 3.0 schema objects to JSON Schema: `nullable: true` becomes a null alternative."""
    if isinstance(node, list):
        return [_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = out["enum"] + [None]
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


class Contract:
    def __init__(self):
        with open(os.path.join(ROOT, "openapi", "openapi.yaml"), encoding="utf-8") as f:
            self.document = yaml.safe_load(f)
        self.components = _json_schema(self.document.get("components", {}))
        # Literal paths before templated ones, so /me/tickets is not taken for /me/{id}.
        self.routes = []
        for template, item in self.document["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}/]+\\\}", "[^/]+", re.escape(template)) + "$"
            self.routes.append((template.count("{"), re.compile(pattern), template, item))
        self.routes.sort(key=lambda r: r[0])
        self.violations = []
        self.checked = 0
        self._validators = {}
        self._lock = threading.Lock()  # sessions are used from worker threads too

    def operation(self, method, path):
        # Operations endpoints are documented at the root and also served under /api/v1 (SPEC §3).
        if path.startswith("/api/v1/health/") or path == "/api/v1/metrics":
            path = path[len("/api/v1"):]
        for _, pattern, template, item in self.routes:
            if pattern.match(path) and method.lower() in item:
                return template, item[method.lower()]
        return None, None

    def _resolve(self, node):
        while isinstance(node, dict) and "$ref" in node and len(node) == 1:
            parts = node["$ref"].lstrip("#/").split("/")
            node = self.document
            for p in parts:
                node = node[p]
        return node

    def _validator(self, key, media):
        validator = self._validators.get(key)
        if validator is None:
            schema = _json_schema(copy.deepcopy(media.get("schema", {})))
            schema["components"] = self.components  # "#/components/..." resolves inside this schema
            validator = jsonschema.Draft4Validator(schema)
            self._validators[key] = validator
        return validator

    def check(self, method, url, status, content_type, body_json):
        with self._lock:
            self._check(method, url, status, content_type, body_json)

    def _check(self, method, url, status, content_type, body_json):
        path = urlsplit(url).path
        if status in EVERY_ROUTE:
            return
        codes = {e.get("code") for e in (body_json or {}).get("errors", [])} if isinstance(body_json, dict) else set()
        if codes & BEFORE_ROUTING:
            return
        template, op = self.operation(method, path)
        where = f"{method} {path} -> {status}"
        if op is None:
            self.violations.append(f"{where}: no such operation in openapi.yaml")
            return
        responses = op.get("responses", {})
        response = responses.get(str(status)) or responses.get("default")
        if response is None:
            self.violations.append(f"{where}: status not documented for {method} {template} "
                                   f"(documented: {sorted(responses)})")
            return
        response = self._resolve(response)
        self.checked += 1
        if status == 304 or not content_type.startswith("application/json"):
            return
        media = (response.get("content") or {}).get("application/json")
        if media is None:
            self.violations.append(f"{where}: JSON body, but the document has no JSON content")
            return
        validator = self._validator((template, method.lower(), str(status) if str(status) in responses else "default"), media)
        errors = sorted(validator.iter_errors(body_json), key=str)
        for e in errors[:3]:
            at = "/".join(str(p) for p in e.absolute_path)
            self.violations.append(f"{where}: at /{at}: {e.message[:300]}")

    def watch(self, session):
        def hook(response, *args, **kwargs):
            content_type = response.headers.get("Content-Type", "")
            if content_type.startswith("text/event-stream"):
                body = None  # a stream: only its status is checked
            else:
                try:
                    body = response.json() if content_type.startswith("application/json") else None
                except ValueError:
                    self.violations.append(f"{response.request.method} {response.url}: "
                                           "application/json that is not JSON")
                    return
            self.check(response.request.method, response.url, response.status_code,
                       content_type, body)
        session.hooks["response"].append(hook)
        return session
