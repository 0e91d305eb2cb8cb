"""Needle keys and values of the kinds RULER uses: numbers, words (adjective-noun), UUIDs.

RULER draws words from the `wonderwords` lists; these fixed lists keep every value reproducible
offline. Each kind renders as a Python literal (`4839201`, `"quiet-harbor"`), the natural form
for a code haystack; `answer` is the text that scoring looks for.
"""
from __future__ import annotations

import random
import uuid as uuid_lib

ADJECTIVES = (
    "adorable agreeable alert ancient angry bitter bold brave bright broad calm careful cheerful clever "
    "cloudy cold curious damp dark deep delicate eager early elegant empty fancy fierce flat fresh friendly "
    "gentle giant glad golden graceful grumpy happy heavy hollow honest huge humble icy jolly kind late lazy "
    "light little lively lonely loud lucky magic mighty modern narrow nervous noble odd old orange patient "
    "plain polite proud purple quick quiet rapid rare rough round royal rusty sandy scarlet shy silent silver "
    "simple sleepy slow smooth soft solid sour spicy steep sticky stormy strange sunny swift tall tame tender "
    "thin tidy tiny vast violet warm wild windy wise witty young zealous"
).split()
NOUNS = (
    "acorn anchor antelope apple arrow badger bakery balloon banjo barn beacon beetle bison blossom bridge "
    "brook buffalo cabin camel candle canyon castle cedar cello cheetah cherry cliff clover comet coral "
    "cottage coyote crane cricket crystal daisy desert dolphin dragon eagle eel falcon fern ferret fig "
    "flute forest fountain fox galaxy garden gazelle geyser glacier goose grape harbor hawk hedgehog heron "
    "island ivy jaguar kettle kiwi lagoon lantern lemon leopard lily lizard llama lobster maple meadow "
    "meteor moose mountain nectar oasis ocean olive orchid otter owl panda parrot peach pebble pelican "
    "pepper pine planet pony quartz rabbit raven reef river robin saddle salmon sparrow squirrel stream "
    "summit swan thistle tiger tulip turtle valley violin walnut whale willow wolf zebra"
).split()
KINDS = ("numbers", "words", "uuids")


def number(rng: random.Random, digits: int = 7) -> int:
    return rng.randrange(10 ** (digits - 1), 10**digits)


def word(rng: random.Random) -> str:
    return f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"


def uuid(rng: random.Random) -> str:
    return str(uuid_lib.UUID(int=rng.getrandbits(128), version=4))


def value_of(kind: str, rng: random.Random) -> str:
    """The answer text of one fresh value of `kind`."""
    if kind == "numbers":
        return str(number(rng))
    if kind == "words":
        return word(rng)
    if kind == "uuids":
        return uuid(rng)
    raise ValueError(f"unknown needle kind {kind!r}; valid kinds: {', '.join(KINDS)}")


def literal(kind: str, answer: str) -> str:
    """How a value is written in code: numbers bare, words and UUIDs quoted."""
    return answer if kind == "numbers" else f'"{answer}"'


def distinct(draw, count: int, exclude=()) -> list:
    """`count` draws of `draw()` that differ from each other and from `exclude`, in draw order."""
    seen, out = set(exclude), []
    while len(out) < count:
        value = draw()
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out


def distinct_values(kind: str, rng: random.Random, count: int, exclude=()) -> list[str]:
    return distinct(lambda: value_of(kind, rng), count, exclude)
