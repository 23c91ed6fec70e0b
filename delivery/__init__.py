"""Alert delivery: each new fraud alert of a run sent once to every sink in the settings.

A stage of its own above the engine, beside the archive: an aiokafka process (``fraudlab
deliver RUN``, a part of ``fraudlab run`` when the settings name sinks) that reads the run's
fraud-alerts topic; the Spark job never imports it, and it imports only the kernel.

- :mod:`delivery.alerts`: new alerts from the fraud-alerts report, their idempotency keys and the
  JSON payload every sink receives;
- :mod:`delivery.sinks`: where alerts go (a webhook, a Kafka topic), one attempt at a time, and
  the backoff between attempts;
- :mod:`delivery.sending`: the delivery part, one queue per sink with retries, the run's delivery
  log and delivery dead letter, and a restart that skips what is done.

:mod:`delivery.commands` adds ``deliver`` to the CLI.
"""
