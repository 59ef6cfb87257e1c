"""Dataset ablations end to end (DESIGN §1 ablate/): spec → mixtures → training → scores → report."""
