"""What an alert receiver knows, apart from Dify: the signature on the collector's deliveries,
Alertmanager's webhook format, the alert as a workflow sees it, and the decision a trigger
makes about one request. Plain functions and models; the trigger plugin only translates."""
