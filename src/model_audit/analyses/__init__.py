"""Analyses: each annotates the LayerGraph (costs are counted while tracing; params, receptive field, ...)."""
