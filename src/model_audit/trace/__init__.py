"""Tracing: fx and hooks tracers, the dispatch counter, meta kernels and placement (never touches the user's model)."""
