"""The ``beam`` task: which TX beam is in use, from raw I/Q (DeepBeam), and few-shot
recalibration on new RF front ends with prototypes (ProtoBeam).

Constants shared by the task's modules live here, below all of them, so the modules import
in one direction only.
"""

SAMPLE_RATE = 1e6
CENTER_FREQUENCY = 28e9


def beam_classes(n: int) -> tuple:
    """Class names of an ``n``-beam codebook: ``beam00`` ... ."""
    return tuple(f"beam{i:02d}" for i in range(n))
