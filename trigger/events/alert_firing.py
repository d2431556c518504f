from dify_plugin.interfaces.trigger import Event
from events.alert_event import AlertEventRun


class AlertFiringEvent(AlertEventRun, Event):
    event_name = "alert_firing"
