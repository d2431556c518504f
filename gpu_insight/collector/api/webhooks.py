"""`/v1/webhooks`: the targets the alert notifier delivers to. Admin token only; a secret is
written, never shown again."""

from fastapi import APIRouter
from fastapi.responses import Response

from gpu_insight.collector.api.answers import json_answer
from gpu_insight.collector.api.auth import Authorized
from gpu_insight.collector.api.context import Context
from gpu_insight.collector.api.errors import ApiError, error_answers
from gpu_insight.collector.auth import Principal
from gpu_insight.collector.notify.targets import UnknownWebhookError, WebhookConflictError
from gpu_insight.collector.notify.worker import Notifier
from gpu_insight.collector.runtime import CollectorRuntime
from gpu_insight.errors import quoted
from gpu_insight.schemas import Webhook, WebhookList, WebhookSpec

router = APIRouter(tags=["v1"])


def _notifier(who: Principal, runtime: CollectorRuntime) -> Notifier:
    if who.apps is not None:
        raise ApiError(403, "admin_token_required", "only the admin token manages webhooks")
    if runtime.notifier is None:
        raise ApiError(503, "notifier_off", "this collector runs without its notifier")
    return runtime.notifier


@router.get("/v1/webhooks", response_model=WebhookList, responses=error_answers())
async def webhooks(who: Authorized, context: Context) -> Response:
    """The targets alert deliveries go to, from the config and from this API."""
    runtime = context.runtime
    targets = _notifier(who, runtime).webhooks()
    return json_answer(WebhookList(host=runtime.hostname, webhooks=[t.view() for t in targets]))


@router.post(
    "/v1/webhooks",
    response_model=Webhook,
    status_code=201,
    responses={**error_answers(parameters=True), 409: {"description": "A conflicting target"}},
)
def add_webhook(who: Authorized, context: Context, spec: WebhookSpec) -> Response:
    """Adds a target; it is kept across restarts. The secret is never shown again."""
    try:
        return json_answer(_notifier(who, context.runtime).add_webhook(spec).view(), 201)
    except WebhookConflictError as exc:
        raise ApiError(409, exc.code, str(exc)) from None


@router.delete(
    "/v1/webhooks/{webhook_id}",
    response_model=Webhook,
    responses={
        **error_answers(),
        404: {"description": "No such target (`unknown_webhook`)"},
        409: {"description": "A target from the config file (`config_webhook`)"},
    },
)
def remove_webhook(who: Authorized, context: Context, webhook_id: str) -> Response:
    """Removes a target added through this API, and its undelivered deliveries."""
    try:
        return json_answer(_notifier(who, context.runtime).remove_webhook(webhook_id).view())
    except UnknownWebhookError:
        raise ApiError(404, "unknown_webhook", f"no webhook target {quoted(webhook_id)}") from None
    except WebhookConflictError as exc:
        raise ApiError(409, exc.code, str(exc)) from None
