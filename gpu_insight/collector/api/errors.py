"""Every answer other than 200 is JSON; no stack trace leaves the process.

`install_error_handlers` turns the routes' `ApiError`s, FastAPI's validation errors, Starlette's
404/405 and anything unexpected into that JSON.
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

ERROR_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "No bearer token"},
    403: {"description": "Wrong bearer token"},
    503: {"description": "No sample yet, or the GPU backend is down"},
}


class ApiError(Exception):
    """An answer other than 200, rendered as JSON `{"error", "detail"}` plus `extra` fields."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers
        self.extra = extra or {}


def error_response(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None, **extra: str
) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status, headers=headers)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.error, exc.detail, exc.headers, **exc.extra)


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{err['loc'][-1]}: {err['msg']}" for err in exc.errors() if err.get("loc")
    )
    return error_response(400, "invalid parameter", problems or "invalid request")


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error = {404: "not found", 405: "method not allowed"}.get(exc.status_code, "http error")
    return error_response(exc.status_code, error, str(exc.detail), exc.headers)


async def _unexpected(_: Request, __: Exception) -> JSONResponse:
    # The server logs the traceback; the client gets no internals.
    return error_response(500, "internal error", "see the collector's log for details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
