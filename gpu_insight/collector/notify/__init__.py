"""The alert notifier: every alert state change becomes one signed delivery per webhook target
that wants it, written to an outbox in the collector's SQLite before the first attempt, and
sent by its own thread with bounded retries.

`delivery` builds and signs what is sent, `targets` holds where it goes (config and API),
`outbox` keeps what is not delivered yet, `worker` moves changes into the outbox and the outbox
to the receivers, `stats` is what `/metrics` shows of it.
"""
