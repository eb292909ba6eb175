"""The API reference: /docs (Swagger UI, embedded), /docs.json (the OpenAPI document), API_DOCS_PATH.

The page itself renders in a real browser in test_browser.py.
"""
import re
import subprocess
from pathlib import Path

import yaml

from conftest import BIN, running_ticketd

ROOT = Path(__file__).resolve().parents[2]


def test_the_document_is_the_repositorys_openapi_yaml_as_json(ticketd):
    res = ticketd.get("/docs.json")
    assert res.status_code == 200 and res.headers["Content-Type"] == "application/json"
    with open(ROOT / "openapi" / "openapi.yaml", encoding="utf-8") as f:
        source = yaml.safe_load(f)
    served = res.json()
    assert served["openapi"] == source["openapi"] and served["info"] == source["info"]
    assert list(served["paths"]) == list(source["paths"])
    again = ticketd.get("/docs.json", headers={"If-None-Match": res.headers["ETag"]})
    assert again.status_code == 304


def test_the_page_and_its_assets_come_from_this_server_only(ticketd):
    page = ticketd.get("/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "http://" not in page.text and "https://" not in page.text
    for name, kind in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css"),
                       ("docs.js", "text/javascript"), ("docs.css", "text/css")):
        res = ticketd.get(f"/docs/assets/{name}")
        assert res.status_code == 200 and res.headers["Content-Type"].startswith(kind), name
        assert f"/docs/assets/{name}" in page.text
    for missing in ("index.html", "openapi.json", "nope.js", "..%2Fpackage.json"):
        res = ticketd.get(f"/docs/assets/{missing}")
        assert res.status_code == 404 and res.json()["success"] is False, missing


def test_api_docs_path_moves_the_page_its_assets_and_the_document():
    with running_ticketd({"API_DOCS_PATH": "reference/api"}) as t:
        page = t.get("/reference/api")
        assert page.status_code == 200
        assert 'data-spec="/reference/api.json"' in page.text
        assert "/reference/api/assets/swagger-ui-bundle.js" in page.text
        assert t.get("/reference/api.json").json()["openapi"].startswith("3.")
        assert t.get("/reference/api/assets/docs.js").status_code == 200
        assert t.get("/docs").status_code == 404
        assert t.get("/docs.json").status_code == 404


def test_a_bad_api_docs_path_is_refused_at_start():
    for bad in ("/docs", "docs/", "a//b", "do cs", "docs?x"):
        res = subprocess.run([BIN, "config-check"], capture_output=True, text=True,
                             env={"ENV_FILE": "/dev/null", "NODE_ENV": "development",
                                  "API_DOCS_PATH": bad})
        assert res.returncode != 0 and "API_DOCS_PATH" in res.stderr, (bad, res.stderr)


def test_every_route_served_is_documented_and_every_documented_operation_is_served():
    """No drift either way between the router and openapi/openapi.yaml.

    The router's list comes from the instance's own startup log ("routes registered", debug level);
    the operations endpoints documented at the root are also served under /api/v1 (SPEC §3), which
    the document says once per endpoint instead of repeating each.
    """
    with running_ticketd({"LOG_LEVEL": "debug"}) as t:
        t.wait_ready()
        (record,) = [r for r in t.log_records() if r.get("message") == "routes registered"]
    served = {tuple(r.split(" ", 1)) for r in record["routes"].split(", ")}
    assert len(served) == record["count"]

    def shape(path):  # /events/:eventId and /events/{eventId} are the same route
        return re.sub(r"\{[^}/]+\}|:[A-Za-z]+", "{}", path)

    with open(ROOT / "openapi" / "openapi.yaml", encoding="utf-8") as f:
        paths = yaml.safe_load(f)["paths"]
    documented = {(method.upper(), shape(path)) for path, item in paths.items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")}
    ops = {(m, p) for m, p in documented if p.startswith(("/health/", "/metrics"))}
    assert ops, "the operations endpoints are documented at the root"
    documented |= {(m, "/api/v1" + p) for m, p in ops}
    served = {(m, shape(p)) for m, p in served}
    assert sorted(served - documented) == [], "served but not in openapi.yaml"
    assert sorted(documented - served) == [], "in openapi.yaml but not served"
