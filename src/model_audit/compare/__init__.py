"""Cross-checks against other tools (fvcore), per module, with every difference explained."""
