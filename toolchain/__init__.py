"""animetool: distill, quantize, export and benchmark the pose and anime-generator networks for phones."""
__version__ = "0.1.0"
