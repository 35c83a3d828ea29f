"""Built-in synthetic worlds with planted truth (``embaudit.worlds.product_lifespan``)."""

from embaudit.data.worlds import World, product_lifespan

__all__ = ["World", "product_lifespan"]
