"""Test support: the real control plane, KubeRay's operator, the kubelet stand-in, and their fixtures."""
