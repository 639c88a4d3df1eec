"""SigMF recordings: read any of cf32_le, ci16_le, ci8, cu8 as complex64; write crash-safely.

Public API: :func:`open_recording` -> :class:`Recording` (``read``, ``blocks``, ``read_frames``);
:class:`RecordingWriter`; :func:`write_recording`. Multi-channel recordings
(``core:num_channels`` > 1) read and write as ``(channels, n)`` arrays. Sample scaling,
including ``sdrkit:full_scale``, lives in one place: :mod:`sdrkit.capture.formats`.
"""

from sdrkit.capture.formats import DATATYPES, from_complex64, to_complex64
from sdrkit.capture.reader import Recording, open_recording, recording_paths
from sdrkit.capture.writer import RecordingWriter, write_recording

__all__ = ["DATATYPES", "Recording", "RecordingWriter", "from_complex64", "open_recording",
           "recording_paths", "to_complex64", "write_recording"]
