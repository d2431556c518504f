from typing import Any

from dify_plugin import ToolProvider
from dify_plugin.errors.tool import ToolProviderCredentialValidationError

from gpu_insight.errors import SettingsError
from gpu_insight.sources.client import CollectorError
from gpu_insight.sources.fleet import CollectorFleet
from gpu_insight.sources.settings import hub_settings


class GpuInsightProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict[str, Any]) -> None:
        """Ask every collector for /healthz and an authenticated /v1/snapshot; check the form
        of the Hub settings (the Hub itself is asked only when a model needs it)."""
        try:
            hub_settings(credentials)
            CollectorFleet.from_values(credentials).check()
        except (SettingsError, CollectorError) as error:
            raise ToolProviderCredentialValidationError(str(error)) from None
