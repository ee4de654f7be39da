"""Bulk import, the generator and the dead-letter workflow through the CLI, on Kafka and Redis.

An import interrupted after a checkpoint resumes where it stopped and the
worker counts every event once; rejected rows land in the rejects file with
their reasons; a CRM export imports with a column mapping; a record the worker
dead-letters is listed with its reason, replayed corrected, and then closed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from spm_stream.config.settings import Settings
from spm_stream.ingestion.importer import ImportMapping, import_file
from spm_stream.store.redis_store import Store
from tests import crm
from tests.fixtures import produce, run_cli, wait_for_processed

pytestmark = pytest.mark.integration

NAIVE = {
    "event_id": "naive-1",
    "type": "activity.call",
    "occurred_at": "2026-11-02T09:00:00",
    "rep_id": "rep-1",
}


async def test_import_resume_rejects_mapping_generate_and_dlq_replay(
    env: dict[str, str], settings: Settings, store: Store, start_worker: Any, tmp_path: Path
) -> None:
    generated = tmp_path / "generated.jsonl"
    done = run_cli(
        env,
        "generate",
        "--days",
        "5",
        "--teams",
        "1",
        "--reps-per-team",
        "3",
        "--start",
        "2026-11-02",
        "--seed",
        "11",
        "--out",
        str(generated),
    )
    assert done.returncode == 0, done.stderr
    lines = generated.read_bytes().splitlines()
    valid = len(lines)
    assert valid > 300
    broken = [orjson.dumps(NAIVE | {"event_id": "naive-2"}), b"{oops"]
    generated.write_bytes(b"\n".join(lines[:150] + broken + lines[150:]) + b"\n")

    # An import interrupted right after its second checkpoint (row 100)...
    rejects, state = tmp_path / "rejects.jsonl", generated.with_name("generated.jsonl.import-state")

    def stop_at_100(rows_done: int) -> None:
        if rows_done == 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file(
            settings,
            generated,
            ImportMapping(),
            rejects=rejects,
            state=state,
            on_progress=stop_at_100,
            checkpoint_every=50,
        )
    assert orjson.loads(state.read_bytes())["rows_done"] == 100
    # ... resumes from there with the same command.
    resumed = run_cli(env, "import", str(generated), "--rejects", str(rejects))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after row 100" in resumed.stdout
    assert f"{valid - 100} events produced" in resumed.stdout
    bad_rows = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(r["row"], r["field"]) for r in bad_rows] == [(151, "occurred_at"), (152, "")]
    assert "UTC offset" in bad_rows[0]["reason"]
    assert "malformed JSON" in bad_rows[1]["reason"]

    # A CRM export with a column mapping: 3 outbound calls, 1 inbound skipped, 1 bad date.
    export = run_cli(
        env,
        "import",
        str(crm.SAMPLES / "hubspot-calls-export.csv"),
        "--mapping",
        str(crm.SAMPLES / "hubspot-calls-export.yaml"),
        "--rejects",
        str(tmp_path / "export-rejects.jsonl"),
        "--state",
        str(tmp_path / "export.import-state"),
    )
    assert export.returncode == 0, export.stderr
    assert "3 events produced" in export.stdout
    assert "1 rejected" in export.stdout
    assert "1 skipped" in export.stdout

    # Straight to Kafka: one more generated day (another seed: other event ids).
    more = run_cli(
        env,
        "generate",
        "--days",
        "1",
        "--teams",
        "1",
        "--reps-per-team",
        "1",
        "--start",
        "2026-11-09",
        "--seed",
        "12",
    )
    assert more.returncode == 0, more.stderr
    extra = int(more.stderr.split()[1])

    # A record that breaks the contract, produced by some other integration.
    produce(settings, [(b"rep-1", orjson.dumps(NAIVE))])
    worker = start_worker()
    total = valid + 3 + extra + 1
    stats = await wait_for_processed(store, total, worker)
    assert (stats.counted, stats.duplicates, stats.rejected) == (total - 1, 0, 1)

    listed = run_cli(env, "dlq", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    [letter] = json.loads(listed.stdout)
    assert (letter["field"], letter["replayed"]) == ("occurred_at", None)
    shown = json.loads(run_cli(env, "dlq", "show", letter["id"]).stdout)
    assert shown["payload"] == NAIVE

    fixed = tmp_path / "fixed.jsonl"
    fixed.write_bytes(orjson.dumps(shown["payload"] | {"occurred_at": "2026-11-02T09:00:00Z"}))
    replayed = run_cli(env, "dlq", "replay", letter["id"], "--fixed", str(fixed))
    assert replayed.returncode == 0, replayed.stderr
    assert "1 dead letters replayed" in replayed.stdout
    stats = await wait_for_processed(store, total + 1, worker)
    assert stats.counted == total
    assert "no dead letters open" in run_cli(env, "dlq", "list", "--open").stdout
    # Nothing open: a second replay sends nothing.
    assert "sent 0 events" in run_cli(env, "dlq", "replay", "--all").stdout
