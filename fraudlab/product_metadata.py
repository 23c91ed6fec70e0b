"""The one reader of a transaction's product_metadata: the line items a checkout bought
(:class:`fraudlab.records.LineItem`).

Files write the list two ways: JSON (``[{"product_id": "28999", "quantity": "1", ...}]``) and the
assignment's Python literal (``[{'product_id': 28999, 'quantity': 1, 'item_price': 1000}]``).
Both read to the same items; the literal form is read with :func:`ast.literal_eval`, which takes
literals only and never runs code. Values may be numbers or strings of numbers. A list that is
not a list of whole items, or an item with a negative, fractional or non-numeric quantity or a
negative or non-numeric price, is refused with the reason, never read as 0.

>>> parse_items("[{'product_id': 28999, 'quantity': 1, 'item_price': 1000}]")
(LineItem(product_id='28999', quantity=1, item_price=1000.0),)
>>> parse_items('[{"product_id": "28999", "quantity": "1", "item_price": "1000"}]')
(LineItem(product_id='28999', quantity=1, item_price=1000.0),)
>>> parse_items('[{"product_id": "53921", "quantity": "-2", "item_price": "276840"}]')
'item 1: quantity -2 is negative'
"""

from __future__ import annotations

import ast

import orjson

from fraudlab.field_values import decimal
from fraudlab.records import LineItem, field_names

__all__ = ["MAX_TEXT", "parse_items", "read_items"]

# A literal this long is not product metadata; literal_eval's parser is not meant for megabytes.
MAX_TEXT = 100_000
_KEYS = field_names(LineItem)


def _loaded(text: str) -> object:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError("is neither JSON nor a Python literal list") from None


def _text_of(value: object) -> str | None:
    """A scalar item value as text (numbers as written), or None for lists, dicts, booleans."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        return str(value)
    return None


def _item(number: int, raw: object) -> LineItem | str:
    if not isinstance(raw, dict):
        return f"item {number} is not a {{product_id, quantity, item_price}} object"
    missing = [k for k in _KEYS if k not in raw]
    if missing:
        return f"item {number} lacks {', '.join(missing)}"
    product = _text_of(raw["product_id"])
    if product is None or not product.strip():
        return f"item {number}: product_id {raw['product_id']!r} is not an id"
    quantity_text = _text_of(raw["quantity"])
    quantity = decimal(quantity_text) if quantity_text is not None else None
    if quantity is None or not quantity.is_integer():
        return f"item {number}: quantity {raw['quantity']!r} is not a whole number"
    if quantity < 0:
        return f"item {number}: quantity {quantity_text} is negative"
    price_text = _text_of(raw["item_price"])
    price = decimal(price_text) if price_text is not None else None
    if price is None:
        return f"item {number}: item_price {raw['item_price']!r} is not a number"
    if price < 0:
        return f"item {number}: item_price {price_text} is negative"
    return LineItem(product.strip(), int(quantity), price)


def parse_items(text: str) -> tuple[LineItem, ...] | str:
    """The items of a product_metadata text, or the reason it cannot be read.

    >>> parse_items("[{'product_id': 1, 'quantity': 4, 'item_price': 9}, "
    ...             "{'product_id': 2, 'quantity': 1, 'item_price': 5.5}]")[1]
    LineItem(product_id='2', quantity=1, item_price=5.5)
    >>> parse_items("__import__('os').system('true')")
    'product_metadata is neither JSON nor a Python literal list'
    >>> parse_items("[]"), parse_items("[{'product_id': 1, 'quantity': 1}]")
    ('product_metadata lists no items', 'item 1 lacks item_price')
    """
    if len(text) > MAX_TEXT:
        return f"product_metadata is {len(text):,} characters long (at most {MAX_TEXT:,})"
    try:
        loaded = _loaded(text)
    except ValueError as exc:
        return f"product_metadata {exc}"
    if not isinstance(loaded, list | tuple):
        return "product_metadata is not a list of items"
    if not loaded:
        return "product_metadata lists no items"
    items: list[LineItem] = []
    for number, raw in enumerate(loaded, 1):
        item = _item(number, raw)
        if isinstance(item, str):
            return item
        items.append(item)
    return tuple(items)


def read_items(text: str) -> tuple[LineItem, ...]:
    """The items of a product_metadata text; ValueError with the reason when it cannot be read."""
    items = parse_items(text)
    if isinstance(items, str):
        raise ValueError(items)
    return items
