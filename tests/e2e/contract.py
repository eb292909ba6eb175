"""Checks real responses against openapi/openapi.yaml: the status must be documented for the
operation, and a JSON body must validate against that response's schema.

`Contract().watch(session)` installs a response hook on a requests session; every response the
session receives afterwards is checked and what does not match is kept in `violations`.
"""
import copy
import os
import re
from urllib.parse import urlsplit

import jsonschema
import yaml

from conftest import ROOT

METHODS = ("get", "post", "put", "patch", "delete")


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

    def check(self, method, url, status, content_type, body_json):
        path = urlsplit(url).path
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
        schema = _json_schema(copy.deepcopy(media.get("schema", {})))
        schema["components"] = self.components  # "#/components/..." resolves inside this schema
        errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(body_json), key=str)
        for e in errors[:3]:
            at = "/".join(str(p) for p in e.absolute_path)
            self.violations.append(f"{where}: at /{at}: {e.message[:300]}")

    def watch(self, session):
        def hook(response, *args, **kwargs):
            content_type = response.headers.get("Content-Type", "")
            if content_type.startswith("text/event-stream"):
                body = None  # a stream: only its status is checked
            else:
                body = response.json() if content_type.startswith("application/json") else None
            self.check(response.request.method, response.url, response.status_code,
                       content_type, body)
        session.hooks["response"].append(hook)
        return session
