"""Reading a YAML configuration file into a validated model, with the bad key named."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from spm_stream.settings import ConfigError

__all__ = ["load_yaml_model"]

M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Parse ``path`` as YAML and validate it; raise ConfigError "file: key.path: reason"."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in err["loc"])
        # A validator's own message (it may name a nested key) beats pydantic's prefix.
        ctx_error = err.get("ctx", {}).get("error")
        detail = str(ctx_error) if ctx_error is not None else err["msg"]
        raise ConfigError(f"{path}: {key + ': ' if key else ''}{detail}") from None
