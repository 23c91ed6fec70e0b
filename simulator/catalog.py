"""The shop's catalogue: a three-level category tree and products with list prices.

The tree is fixed data (a fashion shop, as in the assignment's product dataset); products are
drawn from it with one random stream per product, so the catalogue of a seed never changes when
other parts of the world do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# (level 1, level 2, level 3, low price, high price, product genders); prices in IDR
# fmt: off
CATEGORY_TREE: tuple[tuple[str, str, str, int, int, str], ...] = (
    ("Apparel", "Topwear", "Tshirts", 59_000, 249_000, "MWBGU"),
    ("Apparel", "Topwear", "Shirts", 99_000, 399_000, "MWB"),
    ("Apparel", "Topwear", "Tops", 79_000, 299_000, "WG"),
    ("Apparel", "Topwear", "Kurtas", 129_000, 449_000, "MW"),
    ("Apparel", "Topwear", "Sweatshirts", 149_000, 499_000, "MWU"),
    ("Apparel", "Topwear", "Jackets", 249_000, 1_199_000, "MWU"),
    ("Apparel", "Topwear", "Batik Shirts", 149_000, 699_000, "MW"),
    ("Apparel", "Bottomwear", "Jeans", 199_000, 799_000, "MW"),
    ("Apparel", "Bottomwear", "Trousers", 149_000, 499_000, "MWB"),
    ("Apparel", "Bottomwear", "Shorts", 69_000, 249_000, "MWBG"),
    ("Apparel", "Bottomwear", "Skirts", 99_000, 349_000, "WG"),
    ("Apparel", "Dress", "Dresses", 149_000, 899_000, "WG"),
    ("Apparel", "Dress", "Gamis", 179_000, 799_000, "W"),
    ("Apparel", "Innerwear", "Briefs", 29_000, 119_000, "M"),
    ("Apparel", "Innerwear", "Bra", 49_000, 249_000, "W"),
    ("Apparel", "Innerwear", "Vests", 29_000, 99_000, "MB"),
    ("Apparel", "Loungewear and Nightwear", "Night Suits", 99_000, 299_000, "WG"),
    ("Apparel", "Loungewear and Nightwear", "Lounge Pants", 79_000, 219_000, "MW"),
    ("Apparel", "Socks", "Socks", 19_000, 89_000, "MWU"),
    ("Apparel", "Muslim Wear", "Hijab", 39_000, 249_000, "WG"),
    ("Apparel", "Muslim Wear", "Koko Shirts", 129_000, 399_000, "MB"),
    ("Footwear", "Shoes", "Casual Shoes", 249_000, 999_000, "MWU"),
    ("Footwear", "Shoes", "Sports Shoes", 399_000, 1_899_000, "MWU"),
    ("Footwear", "Shoes", "Formal Shoes", 399_000, 1_499_000, "M"),
    ("Footwear", "Shoes", "Heels", 249_000, 999_000, "W"),
    ("Footwear", "Shoes", "Flats", 129_000, 449_000, "WG"),
    ("Footwear", "Sandal", "Sandals", 69_000, 299_000, "MWBG"),
    ("Footwear", "Flip Flops", "Flip Flops", 25_000, 129_000, "MWU"),
    ("Accessories", "Watches", "Watches", 299_000, 3_499_000, "MWU"),
    ("Accessories", "Bags", "Handbags", 199_000, 1_999_000, "W"),
    ("Accessories", "Bags", "Backpacks", 149_000, 899_000, "MWU"),
    ("Accessories", "Bags", "Wallets", 79_000, 499_000, "MW"),
    ("Accessories", "Eyewear", "Sunglasses", 99_000, 1_299_000, "MWU"),
    ("Accessories", "Jewellery", "Earrings", 39_000, 899_000, "W"),
    ("Accessories", "Jewellery", "Necklace and Chains", 59_000, 1_499_000, "W"),
    ("Accessories", "Belts", "Belts", 59_000, 299_000, "M"),
    ("Accessories", "Headwear", "Caps", 49_000, 199_000, "MU"),
    ("Accessories", "Ties", "Ties", 49_000, 179_000, "M"),
    ("Personal Care", "Fragrance", "Perfume and Body Mist", 59_000, 1_499_000, "MWU"),
    ("Personal Care", "Lips", "Lipstick", 39_000, 249_000, "W"),
    ("Personal Care", "Skin Care", "Face Moisturisers", 39_000, 399_000, "WU"),
    ("Personal Care", "Nails", "Nail Polish", 19_000, 99_000, "W"),
    ("Sporting Goods", "Sports Equipment", "Footballs", 99_000, 499_000, "U"),
    ("Sporting Goods", "Sports Equipment", "Badminton Rackets", 149_000, 1_299_000, "U"),
    ("Sporting Goods", "Sportswear", "Jerseys", 99_000, 599_000, "MWB"),
    ("Home", "Home Furnishing", "Cushion Covers", 39_000, 149_000, "U"),
    ("Home", "Home Furnishing", "Bed Sheets", 99_000, 499_000, "U"),
    ("Free Items", "Free Gifts", "Free Gifts", 1_000, 1_000, "U"),
)
# fmt: on

GENDERS = {"M": "Men", "W": "Women", "B": "Boys", "G": "Girls", "U": "Unisex"}
# fmt: off
COLOURS: tuple[str, ...] = (
    "Black", "White", "Blue", "Navy Blue", "Grey", "Red", "Brown", "Green", "Pink", "Purple",
    "Beige", "Maroon", "Olive", "Yellow", "Cream", "Charcoal", "Teal", "Mustard", "Silver", "Gold",
)
# fmt: on
SEASONS: tuple[str, ...] = ("Summer", "Fall", "Winter", "Spring")
USAGES: tuple[str, ...] = ("Casual", "Casual", "Casual", "Formal", "Sports", "Ethnic", "Party")
# fmt: off
BRANDS: tuple[str, ...] = (
    "Nusantara", "Kirana", "Sahabat", "Pelangi", "Merapi", "Cakrawala", "Samudra", "Rinjani",
    "Bromo", "Toba", "Lontar", "Kenanga", "Cendana", "Bumi", "Angkasa", "Sekar", "Lembayung",
    "Tenun", "Rimba", "Arunika",
)
# fmt: on
FIRST_CATEGORY_ID = 1
FIRST_PRODUCT_ID = 10_001


@dataclass(frozen=True, slots=True)
class CategoryLeaf:
    """A leaf of the category tree with the price band of its products."""

    category_id: str
    level1: str
    level2: str
    level3: str
    low: int
    high: int
    genders: str


@dataclass(frozen=True, slots=True)
class Item:
    """A product in the assignment's columns, with its list price in IDR."""

    index: int
    id: str
    gender: str
    colour: str
    season: str
    year: str
    usage: str
    name: str
    category_id: str
    price: int
    popularity: float
    id_bytes: bytes  # the id as it goes into message templates


def category_leaves() -> tuple[CategoryLeaf, ...]:
    """The fixed category tree, one leaf per row, with stable ids."""
    return tuple(
        CategoryLeaf(str(FIRST_CATEGORY_ID + i), *row) for i, row in enumerate(CATEGORY_TREE)
    )


def make_product(index: int, seed: int, leaves: tuple[CategoryLeaf, ...]) -> Item:
    """Product number ``index`` of the catalogue of ``seed``."""
    rng = random.Random(f"{seed}:product:{index}")
    # free gifts are rare; every other leaf is equally likely
    leaf = leaves[rng.randrange(len(leaves) - 1)] if rng.random() > 0.005 else leaves[-1]
    gender = GENDERS[rng.choice(leaf.genders)]
    colour = rng.choice(COLOURS)
    brand = rng.choice(BRANDS)
    # prices cluster low in each band, with a long tail towards its top
    share = rng.random() ** 2.2
    price = round((leaf.low + share * (leaf.high - leaf.low)) / 1000) * 1000
    return Item(
        index=index,
        id=str(FIRST_PRODUCT_ID + index),
        gender=gender,
        colour=colour,
        season=rng.choice(SEASONS),
        year=str(rng.randint(2015, 2025)),
        usage="Sports" if leaf.level1 == "Sporting Goods" else rng.choice(USAGES),
        name=f"{brand} {gender} {colour} {leaf.level3}",
        category_id=leaf.category_id,
        price=max(price, 1000),
        # heavy-tailed popularity: a few products sell far more than the rest
        popularity=rng.paretovariate(1.3),
        id_bytes=str(FIRST_PRODUCT_ID + index).encode(),
    )
