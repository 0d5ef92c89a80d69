"""Small shared utilities, one copy each: file writing rules (io), array conversions (arrays), devices, autocast
precisions and CPU counts (system)."""
