"""tunesweep's trainer: one trial (`trial.run_trial`) on the Flax/Tunix backend or the CPU mock, and
the Ray Tune sweep driver (`sweep`)."""
