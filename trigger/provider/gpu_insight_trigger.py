import time
from collections.abc import Mapping
from typing import Any

from dify_plugin.entities.provider_config import CredentialType
from dify_plugin.entities.trigger import EventDispatch, Subscription, UnsubscribeResult
from dify_plugin.errors.trigger import SubscriptionError, TriggerProviderCredentialValidationError
from dify_plugin.interfaces.trigger import Trigger, TriggerSubscriptionConstructor
from werkzeug import Request

from gpu_insight.errors import InputError
from gpu_insight.gateway import json_response
from gpu_insight.sources.client import CollectorError
from gpu_insight.triggers.dispatch import dispatch
from gpu_insight.triggers.subscriptions import (
    WEBHOOK_SECRET,
    check_access,
    subscribe,
    unsubscribe,
)


class GpuInsightTrigger(Trigger):
    def _dispatch_event(self, subscription: Subscription, request: Request) -> EventDispatch:
        secret = str(subscription.properties.get(WEBHOOK_SECRET) or "")
        answer = dispatch(secret, request.headers.get, request.get_data(), time.time())
        return EventDispatch(
            events=answer.events,
            payload=answer.payload,
            response=json_response(answer.body, answer.status),
        )


class GpuInsightSubscriptions(TriggerSubscriptionConstructor):
    def _validate_api_key(self, credentials: Mapping[str, Any]) -> None:
        try:
            check_access(credentials)
        except (InputError, CollectorError) as error:
            raise TriggerProviderCredentialValidationError(str(error)) from None

    def _create_subscription(
        self,
        endpoint: str,
        parameters: Mapping[str, Any],
        credentials: Mapping[str, Any],
        credential_type: CredentialType,
    ) -> Subscription:
        try:
            properties = subscribe(endpoint, parameters, credentials)
        except (InputError, CollectorError) as error:
            raise SubscriptionError(str(error)) from None
        return Subscription(
            endpoint=endpoint, parameters=parameters, properties=properties, expires_at=-1
        )

    def _delete_subscription(
        self,
        subscription: Subscription,
        credentials: Mapping[str, Any],
        credential_type: CredentialType,
    ) -> UnsubscribeResult:
        success, message = unsubscribe(subscription.properties, credentials)
        return UnsubscribeResult(success=success, message=message)

    def _refresh_subscription(
        self,
        subscription: Subscription,
        credentials: Mapping[str, Any],
        credential_type: CredentialType,
    ) -> Subscription:
        return subscription  # collector targets do not expire (expires_at -1)
