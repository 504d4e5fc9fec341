"""tunesweep."""
