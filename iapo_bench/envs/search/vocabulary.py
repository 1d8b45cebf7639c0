"""The words and colours gallery items are made of.

Each colour word has one role (a main colour, a trim colour or a background), so a bag of
words (BM25) can tell "a red mug with gold stripes" from "a gold mug with red stripes": the
second cannot exist. Maker names and title words are invented or chosen so that none of them
is an attribute word, and none holds a digit.
"""

from __future__ import annotations

__all__ = [
    "ACCENTS",
    "BACKGROUNDS",
    "CATEGORIES",
    "COLOURS",
    "LAYOUTS",
    "MAKERS",
    "MODEL_NAMES",
    "OBJECTS",
    "PATTERNS",
    "PATTERN_NOUNS",
    "POSTER_WORDS",
    "SCENE_ADJECTIVES",
    "SCENE_NOUNS",
    "SHAPES",
    "STYLES",
    "TEXTURES",
    "THEMES",
]

RGB = tuple[int, int, int]

COLOURS: dict[str, RGB] = {
    "red": (205, 35, 45),
    "orange": (240, 130, 20),
    "yellow": (245, 205, 30),
    "lime": (150, 210, 40),
    "green": (35, 140, 60),
    "teal": (20, 135, 130),
    "cyan": (40, 190, 225),
    "blue": (35, 85, 205),
    "navy": (25, 35, 95),
    "purple": (120, 50, 165),
    "magenta": (210, 40, 150),
    "pink": (245, 140, 185),
    "brown": (120, 70, 35),
    "maroon": (110, 20, 40),
}
"""Main colours of objects, shapes and posters."""

ACCENTS: dict[str, RGB] = {
    "white": (250, 250, 250),
    "black": (22, 22, 22),
    "gold": (212, 175, 55),
    "silver": (165, 172, 185),
}
"""Trim colours: the second colour of a patterned product, and poster blocks."""

BACKGROUNDS: dict[str, RGB] = {
    "ivory": (250, 245, 228),
    "mint": (196, 238, 212),
    "peach": (250, 212, 186),
    "lavender": (222, 212, 245),
    "powder": (200, 222, 246),
    "sand": (222, 200, 155),
    "slate": (96, 112, 128),
    "charcoal": (48, 50, 56),
    "rose": (244, 200, 208),
    "sage": (172, 196, 160),
}
"""Background colours of products and scenes."""

OBJECTS: tuple[str, ...] = (
    "mug",
    "bottle",
    "box",
    "lamp",
    "chair",
    "shoe",
    "vase",
    "bag",
    "clock",
    "hat",
    "teapot",
    "book",
    "phone",
    "umbrella",
    "table",
)
"""Product objects (each drawn from a few polygons and ellipses)."""

CATEGORIES: dict[str, str] = {
    "mug": "kitchen",
    "bottle": "kitchen",
    "teapot": "kitchen",
    "vase": "decor",
    "clock": "decor",
    "lamp": "furniture",
    "chair": "furniture",
    "table": "furniture",
    "shoe": "fashion",
    "bag": "fashion",
    "hat": "fashion",
    "umbrella": "fashion",
    "book": "office",
    "phone": "office",
    "box": "office",
}
"""The shop category of each object (a tag)."""

PATTERNS: tuple[str, ...] = ("plain", "striped", "dotted", "checked", "zigzag")
"""Product surface patterns."""

PATTERN_NOUNS: dict[str, str] = {
    "striped": "stripes",
    "dotted": "dots",
    "checked": "checks",
    "zigzag": "zigzags",
}
"""How a caption names a pattern's marks ("with gold stripes")."""

STYLES: tuple[str, ...] = (
    "classic",
    "compact",
    "deluxe",
    "rustic",
    "modern",
    "retro",
    "travel",
    "studio",
    "everyday",
    "premium",
    "nordic",
    "urban",
)
"""Product title styles (not visible: tags and titles only)."""

MODEL_NAMES: tuple[str, ...] = (
    "aster",
    "birch",
    "cedar",
    "dahlia",
    "ember",
    "fennel",
    "garnet",
    "hazel",
    "iris",
    "juniper",
    "kestrel",
    "larch",
    "marlin",
    "nectar",
    "opal",
    "piper",
    "quill",
    "raven",
    "sorrel",
    "tamarind",
    "umber",
    "vesper",
    "willow",
    "yarrow",
    "zephyr",
    "alder",
    "bramble",
    "clover",
    "drift",
    "fable",
)
"""The model word of a product title ("Retro Mug Aster")."""

SHAPES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "star",
    "hexagon",
    "diamond",
    "ring",
    "cross",
)
"""Shapes of scenes."""

TEXTURES: tuple[str, ...] = ("solid", "gradient", "grid", "speckled", "wavy")
"""Scene background textures."""

SCENE_ADJECTIVES: tuple[str, ...] = (
    "quiet",
    "bright",
    "calm",
    "busy",
    "still",
    "bold",
    "gentle",
    "lively",
    "sparse",
    "playful",
)
"""First word of a scene's title."""

SCENE_NOUNS: tuple[str, ...] = (
    "composition",
    "arrangement",
    "study",
    "gathering",
    "ensemble",
    "constellation",
    "assembly",
    "collection",
)
"""Second word of a scene's title."""

LAYOUTS: tuple[str, ...] = ("split", "banded", "diagonal", "medallion", "quartered", "frame")
"""Poster block layouts."""

THEMES: tuple[str, ...] = (
    "music",
    "film",
    "tourism",
    "sports",
    "science",
    "food",
    "art",
    "theatre",
)
"""Poster themes (not visible: tags only)."""

POSTER_WORDS: tuple[str, ...] = (
    "neon",
    "harbor",
    "summer",
    "echo",
    "garden",
    "velvet",
    "comet",
    "desert",
    "lantern",
    "orbit",
    "meadow",
    "thunder",
    "crystal",
    "harvest",
    "voyage",
    "midnight",
    "canyon",
    "lagoon",
    "glacier",
    "prairie",
    "tempest",
    "aurora",
    "cascade",
    "falcon",
    "horizon",
    "island",
    "jungle",
    "kingdom",
    "lunar",
    "monsoon",
    "nebula",
    "oasis",
    "paradise",
    "quarry",
    "rhythm",
    "safari",
    "tundra",
    "utopia",
    "valley",
    "wander",
    "zenith",
    "atlas",
    "beacon",
    "carnival",
    "dynamo",
    "eclipse",
    "frontier",
    "galaxy",
    "hollow",
    "inferno",
    "jubilee",
    "kaleido",
    "legend",
    "mirage",
    "nomad",
    "odyssey",
    "pulse",
    "riviera",
    "solstice",
    "tide",
    "vortex",
    "wildfire",
    "zodiac",
    "boulevard",
    "cinema",
    "dream",
    "festival",
    "gravity",
    "highway",
    "jazz",
    "kite",
    "lights",
    "marathon",
    "night",
    "opera",
    "parade",
    "river",
    "sunset",
)
"""Poster title words (two make a title, drawn large on the poster)."""

MAKERS: tuple[str, ...] = (
    "Norvik",
    "Calloway",
    "Brightwell",
    "Ostrander",
    "Vantelli",
    "Quorra",
    "Haldane",
    "Mirabel",
    "Tessaro",
    "Kellgren",
    "Fairhaven",
    "Lumenor",
    "Dravik",
    "Ambrose",
    "Pellucid",
    "Stoneleigh",
    "Corvina",
    "Wexford",
    "Ysolde",
    "Thornbury",
    "Galvani",
    "Rookwood",
    "Selkirk",
    "Marchetti",
    "Ulverston",
    "Beaumont",
    "Kinsale",
    "Orsolya",
    "Penhallow",
    "Zaragosa",
    "Ferncliff",
    "Halvorsen",
    "Iverna",
    "Jessamy",
    "Lindqvist",
    "Montclair",
    "Nettlefold",
    "Rosengard",
    "Sabatier",
    "Tregarth",
)
"""Invented brands; one makes each item."""
