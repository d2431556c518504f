"""The OpenAPI schema, true to what the API answers.

FastAPI documents a 422 with its own validation-error body for every route that takes
parameters; this API answers those errors 400 in the project's error envelope (see `errors`),
documented on each route, so the 422s and their schemas are taken out.
"""

from typing import Any

from fastapi import FastAPI

UNSENT_STATUS = "422"
UNSENT_SCHEMAS = ("HTTPValidationError", "ValidationError")


def install_openapi(app: FastAPI) -> None:
    """Makes `app.openapi()` (and `/openapi.json`) serve the schema without the unsent 422s."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            for operations in schema["paths"].values():
                for operation in operations.values():
                    operation["responses"].pop(UNSENT_STATUS, None)
            for name in UNSENT_SCHEMAS:
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point
