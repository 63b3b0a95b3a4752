"""405 answers name in ``Allow`` every method of the path's routes, not only those of the
first route that matched (Starlette's default): ``/batch/runs`` has a GET route and a POST
route."""

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import compile_path


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the app documents at ``path`` (a concrete path, not a template), and
    those of routes added to the app itself outside the document (the dashboard's)."""
    methods: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        if compile_path(template)[0].match(path):
            methods |= {method.upper() for method in operations}
    for route in app.routes:
        template, found = getattr(route, "path", None), getattr(route, "methods", None)
        if template and found and compile_path(template)[0].match(path):
            methods |= set(found)
    return sorted(methods)


def answer_405_with_every_method(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code != 405:
            return await http_exception_handler(request, exc)
        allow = ", ".join(allowed_methods(app, request.url.path))
        return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": allow})
