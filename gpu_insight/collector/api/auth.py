"""Bearer-token authentication as a FastAPI dependency: `who: Authorized` in a route's signature.

The token check itself lives in `collector.auth`; here it becomes 401 (no token, with a Bearer
challenge) or 403 (a wrong one). `HTTPBearer` only documents the scheme in the OpenAPI schema.
"""

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gpu_insight.collector.api.context import Context
from gpu_insight.collector.api.errors import ApiError
from gpu_insight.collector.auth import InvalidTokenError, MissingTokenError, Principal

bearer = HTTPBearer(auto_error=False, description="The collector's admin or project token")


async def principal(
    request: Request,
    context: Context,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    try:
        return context.authenticator.authenticate(request.headers.get("authorization"))
    except MissingTokenError as exc:
        raise ApiError(
            401, "token_required", str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from None
    except InvalidTokenError as exc:
        raise ApiError(403, "token_refused", str(exc)) from None


Authorized = Annotated[Principal, Depends(principal)]
