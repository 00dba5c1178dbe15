"""A generated spec as YAML text."""
from __future__ import annotations

import yaml


def to_yaml(spec: dict) -> str:
    """The spec as a YAML document (flow style for the leaves: one line per buffer and stage)."""
    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=1000)
