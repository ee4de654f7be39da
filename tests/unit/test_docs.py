"""The docs and the build files say the same thing as the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from spm_stream.config.directory import load_directory
from spm_stream.contract.events import EventType

ROOT = Path(__file__).parents[2]


def _ci_test_command() -> str:
    match = re.search(r"^TEST_COMMAND='(.+)'$", (ROOT / ".ci/run").read_text(), re.M)
    assert match, ".ci/run must define TEST_COMMAND"
    return match.group(1)


def test_readme_second_command_is_what_ci_runs() -> None:
    assert _ci_test_command() in (ROOT / "README.md").read_text(encoding="utf-8")


def _documentation() -> str:
    """The user documentation: the README and the reference pages it links to in docs/."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(p.read_text(encoding="utf-8") for p in pages)


def test_readme_is_for_users_and_links_every_reference_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 400
    order = ["## Try it", "## Install the Slack app", "## Configure", "## Deploy", "## Operate"]
    assert [readme.index(h) for h in order] == sorted(readme.index(h) for h in order)
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in readme, page.name
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).exists(), target


def test_compose_runs_the_kafka_version_ci_tests_against() -> None:
    pom = (ROOT / ".ci/kafka/pom.xml").read_text()
    version = re.search(r"<kafka.version>(.+)</kafka.version>", pom)
    assert version
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{version.group(1)}"
    assert "KAFKA_PROCESS_ROLES" in compose["services"]["kafka"]["environment"]
    assert "--appendonly" in compose["services"]["redis"]["command"]


def test_example_config_is_valid() -> None:
    directory = load_directory(ROOT / "examples/spm.yaml")
    assert directory.teams


def test_readme_documents_every_event_type() -> None:
    readme = _documentation()
    for etype in EventType:
        assert f"`{etype.value}`" in readme, etype


def test_readme_documents_every_alert_rule_and_knob() -> None:
    from spm_stream.config.settings import Settings
    from spm_stream.ranking.gamification import Celebrate, Gamification, Points, StreakRule
    from spm_stream.rules.alerts import RULES
    from spm_stream.rules.config import NoShowRule, NotifyPolicy, PaceRule

    readme = _documentation()
    for rule in RULES:
        assert f"`{rule}`" in readme, rule
    for model in (NoShowRule, PaceRule, NotifyPolicy, Gamification, Points, StreakRule, Celebrate):
        for name in model.model_fields:
            assert name in readme, f"{model.__name__}.{name}"
    for name in Settings.model_fields:
        assert f"SPM_{name.upper()}" in readme, name


def test_readme_config_examples_are_valid() -> None:
    from spm_stream.config.directory import Directory

    readme = _documentation()
    checked = 0
    for block in re.findall(r"```yaml\n(.*?)```", readme, re.S):
        data = yaml.safe_load(block)
        if {"alerts", "gamification", "calendar"} & set(data):
            # Team entries of these snippets refer to people defined elsewhere.
            Directory.model_validate({k: v for k, v in data.items() if k != "teams"})
            checked += 1
    assert checked >= 2


def test_readme_documents_and_validates_the_crm_mapping_and_import_mapping() -> None:
    from spm_stream.crm.mapping import CrmMappings
    from spm_stream.ingestion.importer import ImportMapping

    readme = _documentation()
    for section, model in CrmMappings.model_fields.items():
        assert model.annotation is not None
        for name in model.annotation.model_fields:
            assert name in readme, f"crm.{section}.{name}"
    for name in ImportMapping.model_fields:
        assert name in readme, f"import mapping {name}"
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", readme, re.S)]
    crm = [b["crm"] for b in blocks if "crm" in b]
    imports = [b for b in blocks if "type_column" in b]
    assert crm  # the README's excerpt and the full reference in docs/crm.md
    assert len(imports) == 1
    for mapping in crm:
        CrmMappings.model_validate(mapping)
    ImportMapping.model_validate(imports[0])
    # The shipped examples too.
    CrmMappings.model_validate(
        yaml.safe_load((ROOT / "examples/crm/mapping.yaml").read_text())["crm"]
    )
    ImportMapping.model_validate(
        yaml.safe_load((ROOT / "examples/crm/hubspot-calls-export.yaml").read_text())
    )


def test_compose_wiring_matches_the_settings() -> None:
    """docker-compose.yml runs a real install: every SPM_* it sets is a setting, every
    secret is in .env.example, host-side commands reach Kafka and Redis, the worker has a
    healthcheck and reads its files from a mounted config/, and the local Slack override
    points the worker at the local server."""
    from spm_stream.config.settings import Settings

    fields = {f"SPM_{name.upper()}" for name in Settings.model_fields}
    secrets = {
        f"SPM_{name.upper()}"
        for name, info in Settings.model_fields.items()
        if "SecretStr" in str(info.annotation)
    }
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    worker = compose["services"]["worker"]
    assert set(worker["environment"]) <= fields
    example = (ROOT / ".env.example").read_text()
    listed = {line.split("=", 1)[0] for line in example.splitlines() if line.startswith("SPM_")}
    assert listed <= fields
    assert secrets <= listed, secrets - listed
    assert worker["env_file"][0]["path"] == ".env"
    assert "./config:/config:ro" in worker["volumes"]
    assert worker["environment"]["SPM_CONFIG"] == "/config/spm.yaml"
    assert worker["environment"]["SPM_TARGETS"] == "/config/targets.yaml"
    assert "/health" in " ".join(worker["healthcheck"]["test"])
    assert all(
        p.startswith("127.0.0.1:") for s in compose["services"].values() for p in s.get("ports", [])
    )
    kafka = compose["services"]["kafka"]["environment"]
    assert "HOST://127.0.0.1:9094" in kafka["KAFKA_ADVERTISED_LISTENERS"]
    assert "127.0.0.1:9094:9094" in compose["services"]["kafka"]["ports"]
    assert "noeviction" in compose["services"]["redis"]["command"]
    local = yaml.safe_load((ROOT / "docker-compose.local-slack.yml").read_text())
    assert local["services"]["worker"]["environment"]["SPM_SLACK_BASE_URL"] == (
        "http://slack:8765/api/"
    )
    # The files the compose comments tell you to copy exist and are valid together.
    from spm_stream.config.checks import check_configuration

    settings = Settings(config=ROOT / "examples/spm.yaml", targets=ROOT / "examples/targets.yaml")
    assert check_configuration(settings, {}).warnings == []
