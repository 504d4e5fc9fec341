"""The `flax-lm` backend: causal-LM fine-tuning of a Gemma with Tunix (JAX/Flax/Optax), then greedy
evaluation with Tunix's sampler."""
