"""Reading a YAML configuration file into a validated model, with the bad key named."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from spm_stream.config.settings import ConfigError

__all__ = ["load_yaml_model", "read_yaml"]

M = TypeVar("M", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice (plain YAML keeps the last silently,
    so a second ``rep-17:`` block would replace the first without a word)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                None, None, f"line {line}: duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _unique_mapping,
)


def read_yaml(path: Path) -> Any:
    """The YAML document of ``path`` (None when empty); ConfigError naming the file and line."""
    try:
        # A SafeLoader subclass: no Python objects are built, as with yaml.safe_load.
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.constructor.ConstructorError as exc:
        raise ConfigError(f"{path}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Parse ``path`` as YAML and validate it; raise ConfigError "file: key.path: reason"."""
    raw: Any = read_yaml(path) or {}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in err["loc"])
        # A validator's own message (it may name a nested key) beats pydantic's prefix.
        ctx_error = err.get("ctx", {}).get("error")
        detail = str(ctx_error) if ctx_error is not None else err["msg"]
        raise ConfigError(f"{path}: {key + ': ' if key else ''}{detail}") from None
