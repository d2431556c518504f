"""Every answer other than 200 is the project's one error envelope, `errors.error_body`:
`{"error": "<snake_case code>", "message": "<one sentence>"}`. No stack trace leaves the process.

`install_error_handlers` turns the routes' `ApiError`s and `InputError`s, FastAPI's validation
errors, Starlette's 404/405 and anything unexpected into that JSON.
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from gpu_insight.errors import InputError, error_body


class ErrorBody(BaseModel):
    """The OpenAPI description of `errors.error_body`."""

    error: str
    message: str


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "No bearer token (`token_required`)"},
    403: {"model": ErrorBody, "description": "Wrong bearer token (`token_refused`)"},
    503: {
        "model": ErrorBody,
        "description": "No sample yet (`no_data_yet`) or the GPU backend is down (`backend_down`)",
    },
}


class ApiError(Exception):
    """An answer other than 200: `error_body(code, message)` with this status and headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status, headers=headers)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _input_error(_: Request, exc: Exception) -> JSONResponse:
    return error_response(400, "invalid_parameter", str(exc))


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{err['loc'][-1]}: {err['msg']}" for err in exc.errors() if err.get("loc")
    )
    return error_response(400, "invalid_parameter", problems or "invalid request")


_HTTP_ERRORS = {
    404: ("not_found", "there is nothing at this path; /openapi.json lists the routes"),
    405: ("method_not_allowed", "this route does not answer that method"),
}


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, message = _HTTP_ERRORS.get(exc.status_code, ("http_error", str(exc.detail)))
    return error_response(exc.status_code, code, message, exc.headers)


async def _unexpected(_: Request, __: Exception) -> JSONResponse:
    # The server logs the traceback; the client gets no internals.
    return error_response(500, "internal_error", "see the collector's log for details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
