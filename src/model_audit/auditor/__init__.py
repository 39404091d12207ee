"""Loading targets, tracing, the IR, analyses and probes. Knows nothing of rules or renderers."""
