"""The engine and what it stands on: rules, the registry, the kernel context, files, cache and catalog. It knows no mode (patch, audit, gate, corpus)."""
