"""Rebuild throughput against the raw consume ceiling, on one topic in one run.

    eval "$(scripts/services.sh start)"
    .venv/bin/python bench/rebuild_throughput.py 200000

Produces N generated events (the benchmark's stream: 4 teams x 10 reps, every event
type) to a fresh topic, measures the raw ceiling (aiokafka getmany + JSON decode, as
`spm-stream bench` does), then `spm-stream rebuild --processes 1` and `--processes 2`,
each into fresh Redis keys (``spm_stream.devtools.bench.measure_rebuild``), and prints
one JSON line with events/s, their ratios and where the time went. `spm-stream bench`
measures the same, beside the live path.
"""

from __future__ import annotations

import asyncio
import json
import sys

from spm_stream.devtools.bench import (
    _ceiling,
    _generate,
    clean_up,
    measure_rebuild,
    scratch_settings,
)
from spm_stream.ingestion.replay import produce
from spm_stream.ingestion.topics import ensure_topics


def main(n: int) -> dict[str, object]:
    base = scratch_settings("rb")
    ensure_topics(base)
    try:
        produce(base, _generate(n))
        ceiling = asyncio.run(_ceiling(base, n))
        out: dict[str, object] = {"events": n, "raw_ceiling_per_s": round(ceiling)}
        for processes in (1, 2):
            run = measure_rebuild(base, processes, ceiling)
            out[f"rebuild_{processes}p_per_s"] = run["events_per_s"]
            out[f"rebuild_{processes}p_ratio"] = run["ratio"]
            out[f"rebuild_{processes}p_wall_per_s"] = run["wall_events_per_s"]
            out[f"rebuild_{processes}p_profile_us"] = run["profile_us"]
        return out
    finally:
        # Left behind, a run's keys slow the next: Redis's AOF rewrite forks over them.
        clean_up(base, redis=True, kafka=True, say=lambda line: print(line, file=sys.stderr))


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)))
