"""Rebuild speed of two (or more) checkouts, alternated on one topic in one run.

    eval "$(scripts/services.sh start)"
    git worktree add /tmp/base <old commit> && git worktree add /tmp/cur HEAD
    .venv/bin/python bench/rebuild_ab.py 300000 2 3 /tmp/base /tmp/cur

Produces N generated events once, then per round measures the raw ceiling and runs
``spm-stream rebuild --processes P`` from each tree into fresh Redis keys
(``spm_stream.devtools.bench.measure_rebuild``). Each rebuild runs with its tree as the
working directory: ``python -m`` puts the working directory first on ``sys.path``, ahead
of ``PYTHONPATH`` and the editable install, so that is what picks the code. Prints one
line per run and one JSON line of ratios per tree; deletes its keys and topics.
"""

from __future__ import annotations

import asyncio
import json
import os
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


def main(n: int, processes: int, rounds: int, trees: list[str]) -> dict[str, list[float]]:
    base = scratch_settings("ab")
    ensure_topics(base)
    ratios: dict[str, list[float]] = {tree: [] for tree in trees}
    home = os.getcwd()
    try:
        produce(base, _generate(n))
        for round_ in range(rounds):
            ceiling = asyncio.run(_ceiling(base, n))
            for i, tree in enumerate(trees):
                run = base.model_copy(
                    update={
                        "redis_prefix": f"{base.redis_prefix}-{round_}-{i}",
                        "app_id": f"{base.app_id}-{round_}-{i}",
                    }
                )
                os.chdir(tree)
                try:
                    result = measure_rebuild(run, processes, ceiling)
                finally:
                    os.chdir(home)
                    clean_up(run, redis=True, kafka=False, say=lambda line: None)
                ratios[tree].append(result["ratio"])
                print(
                    f"round {round_ + 1} {tree}: ceiling {ceiling:,.0f}/s, "
                    f"{result['events_per_s']:,}/s, ratio {result['ratio']}, "
                    f"profile_us {result['profile_us']}",
                    file=sys.stderr,
                    flush=True,
                )
        return ratios
    finally:
        clean_up(base, redis=True, kafka=True, say=lambda line: None)


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit("usage: rebuild_ab.py EVENTS PROCESSES ROUNDS TREE [TREE...]")
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])))
