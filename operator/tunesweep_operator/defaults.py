"""What the operator fills in from its settings when the spec leaves it empty."""

from __future__ import annotations

from tunesweep_evidence.spec import TuningSweepSpec

from .settings import OperatorSettings


class MissingDefault(ValueError):
    """The spec leaves a value empty and the operator has no default for it."""


def trainer_image(spec: TuningSweepSpec, settings: OperatorSettings) -> str:
    """`spec.trainer.image`, else the operator's default image for the trials' accelerator."""
    accelerator = spec.resources.per_trial.accelerator
    image = spec.trainer.image or settings.trainer_images.get(accelerator, "")
    if not image:
        raise MissingDefault(
            f"spec.trainer.image is empty and the operator has no default trainer image for accelerator "
            f"{accelerator.value!r}; set spec.trainer.image or the chart's trainer image values"
        )
    return image


def evidence_uri(spec: TuningSweepSpec, settings: OperatorSettings) -> str:
    """`spec.evidence.uri`, else the operator's default evidence location."""
    uri = spec.evidence.uri or settings.default_evidence_uri
    if not uri:
        raise MissingDefault(
            "spec.evidence.uri is empty and the operator has no default evidence location "
            "(TUNESWEEP_EVIDENCE_URI)"
        )
    return uri
