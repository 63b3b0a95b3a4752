"""The dashboard is served by the platform itself: the page at /, its two assets, nothing
else under /dashboard/, and a 405 that names the page's methods."""

import re

from fastapi.testclient import TestClient

from common.model.views import parse_catalog
from serving_layer.main import create_app
from serving_layer.settings import ServingSettings

VIEWS = parse_catalog(
    {
        "views": [
            {"name": "taps", "event_type": "tap", "granularity": "hour", "metrics": {"n": "count"}}
        ]
    }
)


def test_the_page_and_its_assets_are_served_without_a_cdn(tmp_path):
    settings = ServingSettings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")
    with TestClient(create_app(settings, VIEWS)) as client:
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        linked = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert "/dashboard/dashboard.js" in linked
        assert all(link.startswith(("/", "data:")) for link in linked), linked  # nothing else
        for name, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
            asset = client.get(f"/dashboard/{name}")
            assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
            assert not re.search(r"https?://(?!www\.w3\.org/)", asset.text)  # (SVG's namespace)
        assert client.get("/dashboard/secrets.txt").status_code == 404
        assert client.get("/dashboard/..%2Fmain.py").status_code == 404
        refused = client.post("/")
        assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
        assert "/" not in client.get("/openapi.json").json()["paths"]
