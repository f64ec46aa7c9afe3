"""What the networks learn from and are calibrated on: footage and teachers out of registry packages (packages.py),
pose labels (poses.py), the renderer's drawings (avatar.py, avatar_data.py), calibration inputs (calib.py)."""
