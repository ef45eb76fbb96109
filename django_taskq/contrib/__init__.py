"""Optional integrations, each importable only when its extra is installed."""
