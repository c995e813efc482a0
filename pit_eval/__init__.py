"""pit_eval: robustness and detection evaluation for vision backbones, starting with PiT."""
__version__ = "0.1.0"
