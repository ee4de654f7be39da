"""Faust's Kafka consumer with a fetch wait that cannot stall the input topic.

aiokafka keeps one fetch in flight per broker, and leaves out of the next fetch
every partition whose last fetched records are still being consumed. So while the
worker works through a large fetch of the input topic, the next fetch to that
broker may carry only idle partitions — Faust's ``__assignor-__leader`` topic, the
alerts topic, an input partition nobody writes to. The broker holds such a fetch
for ``fetch.max.wait.ms``, and no input is fetched until it returns.
faust-streaming hard-codes 1,500 ms there, and the stall sustains itself: the
next fetch brings 1.5 s of input, which again takes long enough to consume that
the following fetch goes out with the idle partitions only. The benchmark saw
it as a steady 1.2 s produce→visible lag after any busy spell (BENCHMARKS.md,
"The fetch that waited for idle partitions"). A short wait bounds such a stall;
an idle worker pays for it with a few more empty fetches per second.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer

__all__ = ["consumer_class"]


def consumer_class(fetch_max_wait_ms: int) -> type[AIOKafkaConsumer]:
    """Faust's aiokafka consumer, with this ``fetch.max.wait.ms`` instead of 1,500."""

    class ConsumerThread(AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
            consumer = super()._create_worker_consumer(transport)
            # Read by AIOKafkaConsumer.start() when it builds its fetcher; Faust
            # passes a literal to the constructor, so this is the only way in.
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

    class Consumer(AIOKafkaConsumer):
        def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    return Consumer
