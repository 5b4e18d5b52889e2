"""The error every model-construction mistake raises."""


class ModelConfigError(ValueError):
    """A model that cannot be built as asked: the message names the cause and the fix."""
