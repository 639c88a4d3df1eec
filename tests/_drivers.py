"""Skip helpers for tests that need a driver stack installed on the machine."""

import pytest


def require_adi():
    """``adi`` (pyadi-iio), skipping when it or Debian's libiio0 is missing.

    ``import iio`` loads libiio.so.0 with ctypes, which raises OSError (not ImportError)
    when the Debian library is absent, so importorskip alone is not enough.
    """
    try:
        import adi
        import iio  # noqa: F401
    except (ImportError, OSError) as exc:
        pytest.skip(f"pyadi-iio / libiio not usable ({exc}): run ./setup.sh as root (installs libiio0)",
                    allow_module_level=True)
    return adi
