"""Schema introspection, fingerprint, TypeScript generation, diff and sync."""
