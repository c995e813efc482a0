"""Sub-commands other than robustness (detection, benchmark, report) register here."""
PARSERS: list = []
