"""The docs and the build files say the same thing as the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from spm_stream.directory import load_directory
from spm_stream.events import EventType

ROOT = Path(__file__).parents[2]


def _ci_test_command() -> str:
    match = re.search(r"^TEST_COMMAND='(.+)'$", (ROOT / ".ci/run").read_text(), re.M)
    assert match, ".ci/run must define TEST_COMMAND"
    return match.group(1)


def test_readme_second_command_is_what_ci_runs() -> None:
    assert _ci_test_command() in (ROOT / "README.md").read_text(encoding="utf-8")


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
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for etype in EventType:
        assert f"`{etype.value}`" in readme, etype


def test_readme_documents_every_alert_rule_and_knob() -> None:
    from spm_stream.alerts import RULES
    from spm_stream.gamification import Celebrate, Gamification, Points, StreakRule
    from spm_stream.rules import NoShowRule, NotifyPolicy, PaceRule
    from spm_stream.settings import Settings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for rule in RULES:
        assert f"`{rule}`" in readme, rule
    for model in (NoShowRule, PaceRule, NotifyPolicy, Gamification, Points, StreakRule, Celebrate):
        for name in model.model_fields:
            assert name in readme, f"{model.__name__}.{name}"
    for name in Settings.model_fields:
        assert f"SPM_{name.upper()}" in readme, name


def test_readme_config_examples_are_valid() -> None:
    from spm_stream.directory import Directory

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
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
    from spm_stream.importer import ImportMapping

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for section, model in CrmMappings.model_fields.items():
        assert model.annotation is not None
        for name in model.annotation.model_fields:
            assert name in readme, f"crm.{section}.{name}"
    for name in ImportMapping.model_fields:
        assert name in readme, f"import mapping {name}"
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", readme, re.S)]
    crm = [b["crm"] for b in blocks if "crm" in b]
    imports = [b for b in blocks if "type_column" in b]
    assert len(crm) == 1
    assert len(imports) == 1
    CrmMappings.model_validate(crm[0])
    ImportMapping.model_validate(imports[0])
    # The shipped examples too.
    CrmMappings.model_validate(
        yaml.safe_load((ROOT / "examples/crm/mapping.yaml").read_text())["crm"]
    )
    ImportMapping.model_validate(
        yaml.safe_load((ROOT / "examples/crm/hubspot-calls-export.yaml").read_text())
    )
