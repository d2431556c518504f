"""Every answer other than 200 is the project's one error envelope, `errors.error_body`:
`{"error": "<snake_case code>", "message": "<one sentence>"}`. No stack trace leaves the process.

`install_error_handlers` turns the routes' `ApiError`s and `InputError`s, FastAPI's validation
errors, Starlette's 404/405 and anything unexpected into that JSON.
"""

from typing import Any

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


def error_answers(
    *, parameters: bool = False, unknown_gpu: bool = False, needs_sample: bool = False
) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of an authenticated route's error answers: 401 and 403 always,
    400 when it takes parameters, 404 when it names a GPU, and 503, for which reasons."""
    busy = "the collector is too busy (`overloaded`, with `Retry-After`)"
    answers: dict[int | str, dict[str, Any]] = {
        401: _answer("No bearer token (`token_required`)"),
        403: _answer("A bearer token that matches no configured token (`token_refused`)"),
        503: _answer(
            f"No sample yet (`no_data_yet`), the GPU backend is down (`backend_down`), or {busy}"
            if needs_sample
            else busy[0].upper() + busy[1:]
        ),
    }
    if parameters:
        answers[400] = _answer("A parameter is malformed or out of range (`invalid_parameter`)")
    if unknown_gpu:
        answers[404] = _answer("No GPU with that index or UUID (`unknown_gpu`)")
    return answers


def _answer(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


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
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


async def _unexpected(_: Request, __: Exception) -> JSONResponse:
    # The server logs the traceback; the client gets no internals.
    return error_response(500, "internal_error", "see the collector's log for details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
