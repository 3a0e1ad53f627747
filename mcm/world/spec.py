"""What the small world contains: attributes, the caption language, the held-out combinations.

A clip shows one shape of one colour moving in one direction. Its caption names all three, with synonyms
and several word orders (so a text encoder is not a lookup of one template). Every (shape, colour),
(shape, direction) and (colour, direction) pair is seen in training; a quarter of the full triples, a
Latin-square design (direction = (shape + colour + offset) mod 4), is held out as the zero-shot set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = ("red", "green", "blue", "yellow")
DIRECTIONS = ("left", "right", "up", "down")
ATTRIBUTES = ("shape", "colour", "direction")

#: Words a caption may use for each value (the first is the canonical name).
SHAPE_WORDS = {
    "circle": ("circle", "ball", "disc"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle", "wedge"),
    "cross": ("cross", "plus"),
}
COLOUR_WORDS = {
    "red": ("red", "crimson", "scarlet"),
    "green": ("green", "emerald", "lime"),
    "blue": ("blue", "azure", "navy"),
    "yellow": ("yellow", "golden", "amber"),
}
DIRECTION_WORDS = {
    "left": ("left", "leftwards", "to the left"),
    "right": ("right", "rightwards", "to the right"),
    "up": ("up", "upwards", "towards the top"),
    "down": ("down", "downwards", "towards the bottom"),
}
VERBS = ("moving", "sliding", "drifting", "travelling", "gliding")
#: Caption templates: {c} colour word, {s} shape word, {v} verb, {d} direction words.
TEMPLATES = (
    "a {c} {s} {v} {d}",
    "a {s}, {c}, {v} {d}",
    "{v} {d}: a {c} {s}",
    "the {c} {s} is {v} {d}",
    "a {c} {s} {v} {d} on a dark background",
)
#: Pixel displacement per frame of each direction (x right, y down).
DIRECTION_VECTORS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
#: RGB in [0, 1] of each colour, before the per-clip jitter.
COLOUR_RGB = {
    "red": (0.92, 0.16, 0.14),
    "green": (0.16, 0.80, 0.22),
    "blue": (0.20, 0.34, 0.96),
    "yellow": (0.96, 0.86, 0.16),
}
#: Offset of the held-out Latin square (direction index = (shape + colour + offset) mod 4).
HELD_OUT_OFFSET = 1


@dataclass(frozen=True)
class Combo:
    """One attribute combination: indices into SHAPES, COLOURS, DIRECTIONS."""

    shape: int
    colour: int
    direction: int

    @property
    def names(self) -> tuple[str, str, str]:
        return SHAPES[self.shape], COLOURS[self.colour], DIRECTIONS[self.direction]

    def canonical_caption(self) -> str:
        s, c, d = self.names
        return f"a {c} {s} moving {d}"


def all_combos() -> list[Combo]:
    return [Combo(s, c, d) for s in range(len(SHAPES)) for c in range(len(COLOURS)) for d in range(len(DIRECTIONS))]


def is_held_out(combo: Combo) -> bool:
    """The zero-shot combinations: absent from every training set (data and networks)."""
    return combo.direction == (combo.shape + combo.colour + HELD_OUT_OFFSET) % len(DIRECTIONS)


def seen_combos() -> list[Combo]:
    return [c for c in all_combos() if not is_held_out(c)]


def held_out_combos() -> list[Combo]:
    return [c for c in all_combos() if is_held_out(c)]


def caption(combo: Combo, variant: int) -> str:
    """Caption number ``variant`` of a combination: template, synonyms and verb chosen by mixed radix."""
    s, c, d = combo.names
    picks = []
    for options in (TEMPLATES, SHAPE_WORDS[s], COLOUR_WORDS[c], DIRECTION_WORDS[d], VERBS):
        picks.append(options[variant % len(options)])
        variant //= len(options)
    template, sw, cw, dw, verb = picks
    return template.format(c=cw, s=sw, v=verb, d=dw)


def caption_variants(combo: Combo) -> Iterator[str]:
    """Every distinct caption of a combination."""
    n = len(TEMPLATES) * len(SHAPE_WORDS[combo.names[0]]) * len(COLOUR_WORDS[combo.names[1]])
    n *= len(DIRECTION_WORDS[combo.names[2]]) * len(VERBS)
    for v in range(n):
        yield caption(combo, v)


def vocabulary() -> list[str]:
    """Every word (and punctuation mark) a caption of the world can contain, sorted."""
    words: set[str] = set()
    for combo in all_combos():
        for text in caption_variants(combo):
            words.update(tokenize_words(text))
    return sorted(words)


def tokenize_words(text: str) -> list[str]:
    """Lower-cased words and punctuation, as the word-level tokenizer splits them."""
    return re.findall(r"[a-z]+|[^\sa-z]", text.lower())


def _word_table() -> dict[str, tuple[str, str]]:
    table = {}
    for attr, groups in (("shape", SHAPE_WORDS), ("colour", COLOUR_WORDS)):
        for value, words in groups.items():
            for w in words:
                table[w] = (attr, value)
    return table


def parse_caption(text: str) -> Combo:
    """The combination a caption names; raises ValueError if an attribute is missing or ambiguous."""
    words = tokenize_words(text)
    table = _word_table()
    found: dict[str, set[str]] = {"shape": set(), "colour": set(), "direction": set()}
    for w in words:
        if w in table:
            attr, value = table[w]
            found[attr].add(value)
    joined = " ".join(words)
    for value, phrases in DIRECTION_WORDS.items():
        if any(re.search(rf"\b{re.escape(p)}\b", joined) for p in phrases):
            found["direction"].add(value)
    for attr, values in found.items():
        if len(values) != 1:
            raise ValueError(f"caption {text!r} names {len(values)} {attr} values ({sorted(values)}); expected one")
    return Combo(
        SHAPES.index(found["shape"].pop()), COLOURS.index(found["colour"].pop()),
        DIRECTIONS.index(found["direction"].pop()),
    )
