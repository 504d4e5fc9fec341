"""Test support: the real control plane, its fixtures, and the KubeRay stand-in."""
