from typing import Any

from dify_plugin import ToolProvider
from dify_plugin.errors.tool import ToolProviderCredentialValidationError

from gpu_insight.client import CollectorError
from gpu_insight.fleet import CollectorFleet
from gpu_insight.settings import SettingsError, collector_settings


class GpuInsightProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict[str, Any]) -> None:
        """Ask every collector for /healthz and an authenticated /v1/snapshot."""
        try:
            CollectorFleet.from_settings(collector_settings(credentials)).check()
        except (SettingsError, CollectorError) as error:
            raise ToolProviderCredentialValidationError(str(error)) from None
