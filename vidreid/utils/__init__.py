"""Small shared utilities (file writing rules: vidreid.utils.io)."""
