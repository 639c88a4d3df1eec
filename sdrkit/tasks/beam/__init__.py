"""The ``beam`` task: which TX beam is in use, from raw I/Q (DeepBeam), and few-shot
recalibration on new RF front ends with prototypes (ProtoBeam)."""
