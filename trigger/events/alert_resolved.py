from dify_plugin.interfaces.trigger import Event
from events.alert_event import AlertEventRun


class AlertResolvedEvent(AlertEventRun, Event):
    event_name = "alert_resolved"
