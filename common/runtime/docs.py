"""``GET /docs`` (Swagger UI) and the pages' shared assets under ``/assets/``, served by the
service itself: Swagger UI's files come from a pinned PyPI package (``fastapi-offline``
ships them), never from a CDN, and the page runs no inline script, so the services'
Content-Security-Policy (``common.runtime.security``) holds for it. Outside the OpenAPI document."""

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse

DOCS_PAGE = "/docs"
ASSETS_PREFIX = "/assets/"

_OWN = Path(__file__).resolve().parent / "static"
_SWAGGER = Path(fastapi_offline.__file__).resolve().parent / "static"
JS, CSS = "text/javascript; charset=utf-8", "text/css; charset=utf-8"
ASSETS: dict[str, tuple[Path, str]] = {
    "api-key.js": (_OWN / "api-key.js", JS),
    "api-key.css": (_OWN / "api-key.css", CSS),
    "docs.js": (_OWN / "docs.js", JS),
    "swagger-ui-bundle.js": (_SWAGGER / "swagger-ui-bundle.js", JS),
    "swagger-ui.css": (_SWAGGER / "swagger-ui.css", CSS),
}
NO_CACHE = {"Cache-Control": "no-cache"}


def docs_page() -> FileResponse:
    """Swagger UI over this service's OpenAPI document."""
    return FileResponse(_OWN / "docs.html", media_type="text/html; charset=utf-8", headers=NO_CACHE)


def asset(name: str) -> FileResponse:
    """A file of the pages (the key form, Swagger UI); 404 for any other name."""
    found = ASSETS.get(name)
    if found is None:
        raise HTTPException(404, f"no asset {name!r}")
    path, media_type = found
    return FileResponse(path, media_type=media_type, headers=NO_CACHE)


def mount_docs(app: FastAPI) -> None:
    """``/docs`` and ``/assets/{name}`` on the app (built with ``docs_url=None``)."""
    for path, endpoint in ((DOCS_PAGE, docs_page), (ASSETS_PREFIX + "{name}", asset)):
        app.add_api_route(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False)
