"""The embedding layer's one error, in a module of its own so that raising or catching it loads no model code."""


class ModelError(RuntimeError):
    """The embedding model cannot be found or loaded."""
