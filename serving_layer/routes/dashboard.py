"""GET /: the live dashboard, a static page that draws the pipeline from GET /status, the batch
runs and a view over time; and its assets under /dashboard/. No CDN, no build step: three
files served as they are. Outside the OpenAPI document."""

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse

ASSETS = Path(__file__).resolve().parent.parent / "dashboard"
DASHBOARD_PAGE = "/"
ASSETS_PATH = "/dashboard/"
MEDIA_TYPES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
# The browser asks again each time (ETag and Last-Modified make that a 304), so a restarted
# serving layer with a newer page is picked up on the next load.
NO_CACHE = {"Cache-Control": "no-cache"}


def dashboard() -> FileResponse:
    """The dashboard page."""
    return FileResponse(
        ASSETS / "index.html", media_type="text/html; charset=utf-8", headers=NO_CACHE
    )


def asset(name: str) -> FileResponse:
    """The page's script and style sheet; 404 for any other name."""
    media_type = MEDIA_TYPES.get(name)
    if media_type is None:
        raise HTTPException(404, f"no dashboard asset {name!r}")
    return FileResponse(ASSETS / name, media_type=media_type, headers=NO_CACHE)


def mount_dashboard(app: FastAPI) -> None:
    """The page and its assets, on the app itself (so a 405 names their methods too)."""
    for path, endpoint in ((DASHBOARD_PAGE, dashboard), (ASSETS_PATH + "{name}", asset)):
        app.add_api_route(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False)
