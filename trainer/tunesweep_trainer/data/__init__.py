"""Training and evaluation data: reasoning-trace records {prompt, trace, answer}."""
