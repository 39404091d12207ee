"""Whether pip can build a local plugin package offline (no build isolation), for the install tests."""
from __future__ import annotations

import importlib.util


def can_build_offline() -> bool:
    """pip --no-build-isolation needs setuptools, with bdist_wheel built in (>= 70.1) or the wheel package."""
    try:
        from importlib.metadata import version

        major, minor = (int(part) for part in version("setuptools").split(".")[:2])
    except Exception:
        return False
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None
