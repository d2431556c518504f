"""How routes hand back what they computed: JSON serialised once, never cached by a browser."""

from fastapi.responses import Response
from pydantic import BaseModel

NO_STORE = {"Cache-Control": "no-store"}  # answers are live and may be scoped to a token


def json_answer(model: BaseModel, status: int = 200) -> Response:
    # Serialised once by pydantic; returning a Response skips FastAPI's re-validation.
    return json_text(model.model_dump_json(), status)


def json_text(body: str, status: int = 200) -> Response:
    return Response(body, status, headers=NO_STORE, media_type="application/json")
