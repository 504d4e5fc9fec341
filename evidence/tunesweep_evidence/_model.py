"""Base class for every model that is written to YAML/JSON: camelCase on the wire, strict on input."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """Kubernetes-style model: camelCase aliases, unknown fields rejected, values validated on assignment."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=True,
        use_attribute_docstrings=True,
    )


class SnakeModel(BaseModel):
    """Evidence documents and the training config keep snake_case keys: people and scripts read them."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
