"""Rebuild throughput against the raw consume ceiling, on one topic in one run.

    eval "$(scripts/services.sh start)"
    .venv/bin/python bench/rebuild_throughput.py 200000

Produces N generated events (the benchmark's stream: 4 teams x 10 reps, every event
type) to a fresh topic, measures the raw ceiling (aiokafka getmany + JSON decode, as
`spm-stream bench` does), then `spm-stream rebuild --processes 1` and `--processes 2`,
each into fresh Redis keys, and prints one JSON line with events/s and their ratios.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid

from spm_stream.config.settings import load_settings
from spm_stream.devtools.bench import _ceiling, _generate
from spm_stream.ingestion.replay import produce
from spm_stream.ingestion.topics import ensure_topics


def main(n: int) -> dict[str, float]:
    tag = uuid.uuid4().hex[:6]
    base = load_settings(
        topic=f"rb-{tag}",
        dlq_topic=f"rb-{tag}-dlq",
        alerts_topic=f"rb-{tag}-alerts",
        app_id=f"rb-{tag}",
        redis_prefix=f"rb-{tag}",
    )
    ensure_topics(base)
    produce(base, _generate(n))
    ceiling = asyncio.run(_ceiling(base, n))
    out: dict[str, float] = {"events": n, "raw_ceiling_per_s": round(ceiling)}
    for processes in (1, 2):
        run = base.model_copy(
            update={"redis_prefix": f"rb-{tag}-{processes}", "app_id": f"rb-{tag}-{processes}"}
        )
        env = {**os.environ, **run.as_env(), "SPM_LOG_LEVEL": "warn"}
        env.pop("SPM_CONFIG", None)  # the benchmark's reps are not in the user's people file
        command = [sys.executable, "-m", "spm_stream", "rebuild", "--processes", str(processes)]
        done = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        # Timed like the ceiling (connected and positioned to done); the wall clock of the
        # whole command, process start-up included, is shown beside it.
        out[f"rebuild_{processes}p_per_s"] = summary["steady_events_per_s"]
        out[f"rebuild_{processes}p_ratio"] = round(summary["steady_events_per_s"] / ceiling, 3)
        out[f"rebuild_{processes}p_wall_per_s"] = summary["events_per_s"]
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)))
