"""pytest fixtures for the real Kubernetes control plane (being written)."""
