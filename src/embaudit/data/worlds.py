"""Built-in synthetic worlds with planted truth.

``product_lifespan`` imitates the scenario embaudit is built around: latent physical
properties of products are mapped non-linearly (a random network plus noise) to p
features, and a log-normal lifespan from days to decades depends on some of them. The
analyst sees noisy measurements of the latents as attributes:

* **true** attributes measure a latent that drives lifespan (known sign);
* **spurious** attributes measure a latent that is strongly encoded in the features but
  has no effect on lifespan;
* **noise** attributes are unrelated to both.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from embaudit.data.table import MIN_ROWS, Table, load_table
from embaudit.errors import ConfigError

Role = Literal["true", "spurious", "noise"]

#: latent name -> effect on log-lifespan (0 for latents that only shape the features).
LATENT_EFFECTS: dict[str, float] = {
    "size": 0.5,
    "hardness": 0.5,
    "usage": -0.5,
    "moisture": -0.55,
    "gloss": 0.0,
    "colour_tone": 0.0,
    "label_area": 0.0,
}
#: latents that load on the features more strongly than the rest.
STRONGLY_ENCODED = ("gloss", "colour_tone", "label_area")
NOISE_ATTRIBUTES = ("shelf_position", "catalogue_page", "batch_code")
MEDIAN_LIFESPAN_DAYS = 730.0
COLOURS = ("black", "blue", "green", "red")


@dataclass(frozen=True, eq=False)
class World:
    """A generated data set together with the truth planted in it."""

    table: Table
    truth: dict[str, str]
    roles: dict[str, Role]
    latent: pd.DataFrame = field(repr=False)

    @property
    def frame(self) -> pd.DataFrame:
        """The generated table's rows and columns (``table.frame``)."""
        return self.table.frame


def product_lifespan(
    n: int = 2000,
    p: int = 500,
    seed: int = 0,
    *,
    null: bool = False,
    effect_scale: float = 1.0,
    lifespan_noise: float = 0.6,
    attribute_noise: float = 0.5,
    feature_noise: float = 1.0,
) -> World:
    """Generate the product-lifespan world.

    ``null=True`` removes every effect on lifespan (the global null: every attribute's
    truth is ``"0"``) while keeping the features and attributes as they are.
    ``effect_scale`` multiplies every planted effect (0 or a negative scale changes the
    truth accordingly).
    """
    if n < MIN_ROWS or p < 1:
        raise ConfigError(
            f"product_lifespan(n={n}, p={p}): the world needs n >= {MIN_ROWS} rows and p >= 1 "
            "features; pass larger values."
        )
    rng = np.random.default_rng(seed)
    names = list(LATENT_EFFECTS)
    z = rng.standard_normal((n, len(names)))
    features = latent_features(z, names, p, feature_noise, rng)

    effects = np.array([LATENT_EFFECTS[k] for k in names]) * effect_scale
    col = {k: z[:, i] for i, k in enumerate(names)}
    nonlinear = 0.3 * effect_scale * (
        np.tanh(col["hardness"] * col["usage"]) + 0.5 * (col["size"] ** 2 - 1.0)
    )
    signal = z @ effects + nonlinear
    scale = float(np.sqrt(np.var(signal) + lifespan_noise**2))
    noise = rng.standard_normal(n)
    log_life = (scale * noise) if null else (signal + lifespan_noise * noise)
    lifespan = MEDIAN_LIFESPAN_DAYS * np.exp(log_life)

    attributes, roles = _attributes(col, attribute_noise, rng)
    planted = [name for name in attributes if roles[name] == "true" and not null]
    truth = {name: "0" for name in attributes}
    truth.update({name: truth_sign(effect_scale * _attribute_effect(name)) for name in planted})
    frame = pd.concat(
        [
            pd.DataFrame({"product_id": [f"p{i:05d}" for i in range(n)],
                          "lifespan_days": lifespan}),
            pd.DataFrame(features, columns=[f"f{j:03d}" for j in range(p)]),
            pd.DataFrame(attributes),
            pd.DataFrame({"picture": product_pictures(col, attributes["colour"], seed)}),
        ],
        axis=1,
    )
    table = load_table(
        frame,
        target="lifespan_days",
        features=["f*"],
        attributes=list(attributes),
        id="product_id",
        target_transform="log",
        images="picture",
    )
    return World(table=table, truth=truth, roles=roles, latent=pd.DataFrame(z, columns=names))


def product_pictures(col: dict[str, np.ndarray], colours: np.ndarray, seed: int) -> list[str]:
    """A small SVG picture of each product (a ``data:`` URL): its body's width follows
    its size, its colour the colour attribute, and its rust spots its moisture, which
    the table measures only as the binary ``outdoor``: an analyst who counts the spots
    has a new attribute (weathering) that drives lifespan. Drawn from their own random
    stream, so the world's numbers are those it had without pictures."""
    rng = np.random.default_rng([seed, 7])
    fills = {"black": "#333", "blue": "#3b6fb6", "green": "#3f8f4f", "red": "#c0433a"}
    width = np.clip(40 + 12 * col["size"], 16, 76)
    spots = np.clip(np.round(3 + 2 * col["moisture"]), 0, 8).astype(int)
    pictures = []
    for i in range(len(width)):
        left = 40 - width[i] / 2
        dots = "".join(
            f'<circle cx="{left + x * width[i]:.1f}" cy="{22 + y * 36:.1f}" r="2.6" '
            'fill="#8a4b16"/>' for x, y in rng.uniform(0.1, 0.9, size=(spots[i], 2)))
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="80" height="80" '
               f'viewBox="0 0 80 80"><rect x="{left:.1f}" y="18" width="{width[i]:.1f}" '
               f'height="44" rx="6" fill="{fills[str(colours[i])]}"/>{dots}</svg>')
        pictures.append("data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode())
    return pictures


def latent_features(
    z: np.ndarray, names: list[str], p: int, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """Random one-hidden-layer network of the latents, plus a linear part and noise."""
    k = z.shape[1]
    loading = np.array([2.0 if name in STRONGLY_ENCODED else 1.0 for name in names])
    hidden = 48
    W1 = rng.standard_normal((k, hidden)) * loading[:, None] / np.sqrt(k)
    b1 = 0.5 * rng.standard_normal(hidden)
    H = np.tanh(z @ W1 + b1)
    W2 = rng.standard_normal((hidden, p)) / np.sqrt(hidden)
    L = rng.standard_normal((k, p)) * loading[:, None] * 0.3 / np.sqrt(k)
    X = H @ W2 + z @ L
    X = X / X.std(axis=0) + noise * rng.standard_normal(X.shape)
    return (X - X.mean(axis=0)) / X.std(axis=0)


def _attributes(
    col: dict[str, np.ndarray], noise: float, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, Role]]:
    n = len(col["size"])

    def measured(name: str) -> np.ndarray:
        return col[name] + noise * rng.standard_normal(n)

    tone = measured("colour_tone")
    colour = np.asarray(COLOURS)[np.searchsorted(np.quantile(tone, [0.25, 0.5, 0.75]), tone)]
    attributes: dict[str, np.ndarray] = {
        "size": measured("size"),
        "hardness": measured("hardness"),
        "usage_intensity": measured("usage"),
        "outdoor": (measured("moisture") > 0.3).astype(int),
        "gloss": measured("gloss"),
        "colour": colour,
        "label_area": measured("label_area"),
    }
    roles: dict[str, Role] = {
        "size": "true",
        "hardness": "true",
        "usage_intensity": "true",
        "outdoor": "true",
        "gloss": "spurious",
        "colour": "spurious",
        "label_area": "spurious",
    }
    for name in NOISE_ATTRIBUTES:
        attributes[name] = rng.standard_normal(n)
        roles[name] = "noise"
    return attributes, roles


def _attribute_effect(attribute: str) -> float:
    latent = {"usage_intensity": "usage", "outdoor": "moisture"}.get(attribute, attribute)
    return LATENT_EFFECTS[latent]


def truth_sign(value: float) -> str:
    """The planted truth of an effect: "+", "-" or "0"."""
    return "+" if value > 0 else "-" if value < 0 else "0"


def linear_lifespan(n: int = 1000, p: int = 100, seed: int = 0, *, n_true: int = 3,
                    lifespan_noise: float = 0.5) -> World:
    """A world in which log-lifespan is exactly linear in the features (plus noise).

    The first ``n_true`` features drive lifespan (alternating signs) and are also the
    true attributes (measured with noise); ``noise_0`` … are unrelated attributes. A
    network can do no better than a linear model here: the baseline the training
    diagnostics flag.
    """
    if n < MIN_ROWS or p < n_true:
        raise ConfigError(f"linear_lifespan(n={n}, p={p}): needs n >= {MIN_ROWS} and "
                          f"p >= n_true={n_true}.")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    effects = np.zeros(p)
    effects[:n_true] = 0.4 * np.where(np.arange(n_true) % 2 == 0, 1.0, -1.0)
    effects[n_true:] = rng.normal(0, 0.05, p - n_true)
    log_life = X @ effects + lifespan_noise * rng.standard_normal(n)
    attributes = {f"driver_{j}": X[:, j] + 0.3 * rng.standard_normal(n) for j in range(n_true)}
    attributes.update({f"noise_{j}": rng.standard_normal(n) for j in range(2)})
    truth = {name: (truth_sign(effects[int(name.split("_")[1])]) if name.startswith("driver")
                    else "0") for name in attributes}
    roles: dict[str, Role] = {name: "true" if truth[name] != "0" else "noise"
                              for name in attributes}
    frame = pd.concat([
        pd.DataFrame({"lifespan_days": MEDIAN_LIFESPAN_DAYS * np.exp(log_life)}),
        pd.DataFrame(X, columns=[f"f{j:03d}" for j in range(p)]),
        pd.DataFrame(attributes),
    ], axis=1)
    table = load_table(frame, target="lifespan_days", features=["f*"],
                       attributes=list(attributes), target_transform="log")
    return World(table=table, truth=truth, roles=roles,
                 latent=pd.DataFrame(X[:, :n_true], columns=list(attributes)[:n_true]))
