"""YAML for recipes and overrides, with YAML 1.2 scalars.

PyYAML implements YAML 1.1, where `no`, `off` and `y` are booleans and `2e-1` (no dot) is a string:
`train.mixed_precision=no` (Accelerate's own spelling) arrived as False and `mlm_probability: 2e-1`
as '2e-1'. Here only true/false are booleans and every float spelling is a float; the schema in
`mlmkit.config` then reads each value by its field's type.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class _RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 scalars: only true/false are booleans (`no` stays a
    string, as Accelerate spells mixed_precision), and `2e-1` is a float, not a string."""


_BOOL, _FLOAT = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:float"
_RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RecipeLoader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_RecipeLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)

def parse_yaml(text: str) -> Any:
    """Parse recipe or override text with YAML 1.2 scalars (see `_RecipeLoader`).

    Raises:
        yaml.YAMLError: text that is not YAML.
    """
    return yaml.load(text, Loader=_RecipeLoader)  # noqa: S506 - a SafeLoader subclass
