"""What the operator fills in from its settings when the spec leaves it empty."""

from __future__ import annotations

from tunesweep_evidence.spec import TuningSweepSpec

from .settings import TRAINER_IMAGE_KINDS, OperatorSettings, trainer_image_env, trainer_image_value


class MissingDefault(ValueError):
    """The spec leaves a value empty and the operator has no default for it."""


def trainer_image(spec: TuningSweepSpec, settings: OperatorSettings) -> str:
    """`spec.trainer.image`, else the operator's default image for the trials' accelerator."""
    accelerator = spec.resources.per_trial.accelerator
    image = spec.trainer.image or settings.trainer_images.get(accelerator, "")
    if not image:
        kind = TRAINER_IMAGE_KINDS[accelerator]
        raise MissingDefault(
            f"spec.trainer.image is empty and the operator has no default {kind} trainer image (the trials' "
            f"accelerator is {accelerator.value!r}): set spec.trainer.image, or give the operator one with "
            f"{trainer_image_env(accelerator)} (Helm: {trainer_image_value(accelerator)})"
        )
    return image


def evidence_uri(spec: TuningSweepSpec, settings: OperatorSettings) -> str:
    """`spec.evidence.uri`, else the operator's default evidence location."""
    uri = spec.evidence.uri or settings.default_evidence_uri
    if not uri:
        raise MissingDefault(
            "spec.evidence.uri is empty and the operator has no default evidence location "
            "(TUNESWEEP_EVIDENCE_URI; Helm: evidence.defaultUri)"
        )
    return uri
