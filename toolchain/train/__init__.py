"""Training: the shared resumable loop (loop.py), the pose student (pose.py), the generator (generator.py), the
distillation recipes that run them (distill.py), and the tests' stand-in weights (standins.py)."""
