"""User-facing errors: the CLI prints these as one line, never as a traceback."""


class VidReIDError(Exception):
    """Base class for errors caused by user input (files, configs, arguments)."""


class DatasetError(VidReIDError):
    """A dataset root, index file or frame is missing or malformed."""


class ConfigError(VidReIDError):
    """A config file or override is invalid."""


class CheckpointError(VidReIDError):
    """A checkpoint cannot be loaded (unsafe, missing, or for another architecture)."""


class OutputError(VidReIDError):
    """An output cannot be written (it would replace an input or a finished run, its folder is not writable, the
    disk is full ...); the message names the path, and what is still intact."""
