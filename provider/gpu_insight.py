from typing import Any

from dify_plugin import ToolProvider
from dify_plugin.errors.tool import ToolProviderCredentialValidationError

from gpu_insight.errors import SettingsError
from gpu_insight.sources.client import CollectorError
from gpu_insight.sources.settings import hub_settings
from gpu_insight.sources.source import source_from


class GpuInsightProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict[str, Any]) -> None:
        """Collectors: /healthz and an authenticated /v1/snapshot of each. Prometheus: its
        build info, then proof that GPU series exist under the selector. The Hub settings'
        form is checked; the Hub itself is asked only when a model needs it."""
        try:
            hub_settings(credentials)
            source_from(credentials).check()
        except (SettingsError, CollectorError) as error:
            raise ToolProviderCredentialValidationError(str(error)) from None
