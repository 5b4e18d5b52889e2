"""Test setup: four fake CPU devices, so data-parallel code runs as on a real mesh.

The flag must be set before jax is first imported anywhere in the session.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
