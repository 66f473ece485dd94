"""The platform-sized cluster of the benches: mlopstui.sandbox.scale (also `mlopstui sandbox up --scale N`)."""

from mlopstui.sandbox.scale import objects, start  # noqa: F401
