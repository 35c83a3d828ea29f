"""Built-in synthetic worlds with planted truth (``embaudit.worlds.product_lifespan``)."""

from embaudit.data.worlds import World, linear_lifespan, product_lifespan

__all__ = ["World", "linear_lifespan", "product_lifespan"]
