"""Word-problem families: multi-step buy/sell/share arithmetic, percent changes and ratios.

Each step states one or two integer equations (``$3 \\times 12 = 36$``); every intermediate value
is an exact integer, and the last step's final claim boxes the answer.
"""

from __future__ import annotations

import math
import random

from data.synth.common import NAMES, Difficulty, Draft, Retry, clamp, res

__all__ = ["word_arithmetic", "percent", "ratio"]

ITEMS = ("pens", "stickers", "marbles", "cookies", "cards", "apples", "books", "shells", "beads", "stamps")
CONTAINERS = (("box", "boxes"), ("pack", "packs"), ("bag", "bags"), ("jar", "jars"), ("crate", "crates"))
_TAKE = (("gives {g} {items} to a friend", "giving away"), ("sells {g} of them", "selling"),
         ("loses {g} of them", "losing"), ("uses {g} of them", "using"))
_GET = (("finds {g} more {items}", "finding"), ("receives {g} more {items} as a gift", "receiving"),
        ("wins {g} more {items}", "winning"))


def _share(rng: random.Random, value: int, he: str, items: str) -> tuple[str, str, int] | None:
    divisors = [p for p in range(2, min(12, value - 1) + 1) if value % p == 0]
    if not divisors:
        return None
    p = rng.choice(divisors)
    sentence = f"{he.capitalize()} shares them equally among {p} friends. How many {items} does each friend get?"
    return sentence, f"Each friend gets ${value} \\div {p} = {res(value // p, True)}$ {items}.", value // p


def _middle(rng: random.Random, op: str, state: tuple[int, int, str, str], d: Difficulty,
            last: bool) -> tuple[str, str, int]:
    """(problem sentence, solution step with a ``{he}`` slot, new count) for one change to the count."""
    value, per_box, boxes, items = state
    if op == "take" and value > 3:
        g = rng.randint(2, min(d.max_value, value - 1))
        verb, gerund = rng.choice(_TAKE)
        return (verb.format(g=g, items=items), f"After {gerund} {g}, {{he}} has ${value} - {g} = "
                f"{res(value - g, last)}$ {items}.", value - g)
    if op == "more":
        n = rng.randint(2, clamp(d.max_value // 4, 2, 9))
        extra = n * per_box
        return (f"buys {n} more {boxes}", f"The {n} new {boxes} hold ${n} \\times {per_box} = {extra}$ {items}, "
                f"so {{he}} has ${value} + {extra} = {res(value + extra, last)}$.", value + extra)
    g = rng.randint(2, d.max_value)
    verb, gerund = rng.choice(_GET)
    return (verb.format(g=g, items=items), f"After {gerund} {g} more, {{he}} has ${value} + {g} = "
            f"{res(value + g, last)}$ {items}.", value + g)


def word_arithmetic(rng: random.Random, d: Difficulty) -> Draft:
    """Buy some boxes of items, take some away or get more, then count, share or sell them."""
    name, he, _ = rng.choice(NAMES)
    items = rng.choice(ITEMS)
    (box, boxes) = rng.choice(CONTAINERS)
    n, k = rng.randint(2, clamp(d.max_value // 2, 3, 12)), rng.randint(3, d.max_value)
    value = n * k
    problem = [f"{name} buys {n} {boxes} of {items}, with {k} {items} in each {box}."]
    steps = [f"{name} starts with ${n} \\times {k} = {value}$ {items}."]
    for i in range(d.steps - 1):
        last = i == d.steps - 2
        if last:
            ending = rng.choice(("share", "sell", "count"))
            if ending == "share" and (shared := _share(rng, value, he, items)) is not None:
                problem.append(shared[0])
                steps.append(shared[1])
                value = shared[2]
                break
            if ending != "count":
                c = rng.randint(2, clamp(d.max_value // 2, 3, 20))
                problem.append(f"{he.capitalize()} sells all of them for {c} dollars each. "
                               f"How many dollars does {he} earn?")
                steps.append(f"Selling them at {c} dollars each earns ${value} \\times {c} = "
                             f"{res(value * c, True)}$ dollars.")
                value *= c
                break
        op = rng.choice(("take", "take", "get", "more"))
        sentence, step, value = _middle(rng, op, (value, k, boxes, items), d, last)
        problem.append(f"Then {he} {sentence}.")
        steps.append(step.replace("{he}", he))
        if last:
            problem.append(f"How many {items} does {name} have now?")
    return Draft(" ".join(problem), tuple(steps), str(value))


_PRICED = ("jacket", "bike", "lamp", "chair", "watch", "backpack", "tent", "guitar", "camera", "desk")
_EASY_PERCENTS = (10, 20, 25, 50)
_HARD_PERCENTS = (5, 15, 30, 40, 60, 75)


def _pick_percent(rng: random.Random, d: Difficulty, base: int | None = None, tax: bool = False) -> int:
    pool = _EASY_PERCENTS if d.max_value <= 20 else _EASY_PERCENTS + _HARD_PERCENTS
    usable = [p for p in pool if (base is None or base * p % 100 == 0) and not (tax and p > 25)]
    if not usable:
        raise Retry
    return rng.choice(usable)


def _percent_steps(value: int, p: int, sign: int, words: tuple[str, str, str], last: bool) -> tuple[list[str], int]:
    change_name, total_name, unit = words
    change = value * p // 100
    new = value + sign * change
    op = "+" if sign > 0 else "-"
    return [f"The {change_name} is ${value} \\times {p} \\div 100 = {change}${unit}.",
            f"The {total_name} is ${value} {op} {change} = {res(new, last)}${unit}."], new


def _population(rng: random.Random, d: Difficulty, p1: int, value: int) -> Draft:
    """A town's population changes by p1% (and, at 4 steps, by p2% the year after)."""
    grows = rng.random() < 0.5
    two = d.steps >= 4
    problem = (f"A town has {value} residents. In one year its population {'grows' if grows else 'falls'} "
               f"by {p1}\\%.")
    steps, value = _percent_steps(value, p1, 1 if grows else -1, ("change", "population", " residents"), not two)
    if two:
        grows = rng.random() < 0.5
        p2 = _pick_percent(rng, d, base=value)
        problem += f" The next year it {'grows' if grows else 'falls'} by {p2}\\%."
        more, value = _percent_steps(value, p2, 1 if grows else -1, ("change", "population", " residents"), True)
        steps += more
    problem += f" How many residents does the town have after {'two years' if two else 'that year'}?"
    return Draft(problem, tuple(steps), str(value))


def percent(rng: random.Random, d: Difficulty) -> Draft:
    """A price discounted (and taxed or discounted again), or a population that grows or shrinks."""
    two = d.steps >= 4
    p1 = _pick_percent(rng, d)
    unit = 100 // math.gcd(p1, 100)  # a base that is a multiple of unit has an integer p1 percent
    if d.steps in (2, 4) and rng.random() < 0.3:
        return _population(rng, d, p1, unit * rng.randint(1, max(2, 20 * d.max_value // unit)))
    name, item = rng.choice(NAMES)[0], rng.choice(_PRICED)
    if d.steps in (3, 5):
        q = rng.randint(2, clamp(d.max_value // 4, 2, 9))
        step = unit // math.gcd(q, unit)
        price = step * rng.randint(1, max(2, 5 * d.max_value // step))
        value = q * price
        problem = f"{name} buys {q} {item}s at \\${price} each, and the store takes {p1}\\% off the total."
        steps = [f"The {item}s cost ${q} \\times {price} = {value}$ dollars before the discount."]
    else:
        value = unit * rng.randint(1, max(2, 20 * d.max_value // unit))
        problem = f"A {item} costs \\${value} and is on sale for {p1}\\% off."
        steps = []
    first, value = _percent_steps(value, p1, -1, ("discount", "sale price", " dollars"), not two)
    steps += first
    if two:
        tax = rng.random() < 0.5
        p2 = _pick_percent(rng, d, base=value, tax=tax)
        problem += (f" Then a {p2}\\% sales tax is added to the sale price." if tax
                    else f" Then a coupon takes another {p2}\\% off the sale price.")
        more, value = _percent_steps(value, p2, 1 if tax else -1,
                                     ("tax" if tax else "extra discount", "final price", " dollars"), True)
        steps += more
    problem += f" How much does {name} pay, in dollars?" if d.steps in (3, 5) else (
        " What is the final price, in dollars?" if two else " What is the sale price, in dollars?")
    return Draft(problem, tuple(steps), str(value))


_PAIRS = ((("boys", "girls"), "students", "a class"), (("cats", "dogs"), "animals", "a shelter"),
          (("red marbles", "blue marbles"), "marbles", "a bag"), (("apples", "oranges"), "pieces of fruit",
                                                                    "a basket"),
          (("adults", "children"), "people", "a museum"), (("pencils", "erasers"), "items", "a drawer"))
_TRIPLES = ((("red", "blue", "green"), "marbles", "a jar"), (("fiction", "history", "science"), "books", "a shelf"),
            (("oak", "pine", "maple"), "trees", "a park"), (("small", "medium", "large"), "shirts", "a store"))


def _parts(rng: random.Random, d: Difficulty, count: int) -> list[int]:
    top = clamp(d.max_value // 2, 4, 9)
    for _ in range(50):
        parts = [rng.randint(1, top) for _ in range(count)]
        if len(set(parts)) == count and math.gcd(*parts) == 1:
            return parts
    raise Retry


def ratio(rng: random.Random, d: Difficulty) -> Draft:
    """Split a total in a given ratio; ask for one share or for the difference of two shares."""
    u = rng.randint(2, d.max_value)
    if d.steps == 5:
        names, noun, place = rng.choice(_TRIPLES)
        parts = _parts(rng, d, 3)
        labels = [f"{n} {noun}" for n in names]
        ratio_tex = ":".join(map(str, parts))
        problem = (f"The {noun} in {place} are {names[0]}, {names[1]} or {names[2]} in the ratio ${ratio_tex}$. ")
    else:
        labels, noun, place = rng.choice(_PAIRS)
        parts = _parts(rng, d, 2)
        ratio_tex = ":".join(map(str, parts))
        problem = f"The ratio of {labels[0]} to {labels[1]} in {place} is ${ratio_tex}$. "
    total_parts = sum(parts)
    total = total_parts * u
    problem += f"There are {total} {noun} in all. "
    parts_sum = " + ".join(map(str, parts))
    parts_claim = f"There are ${parts_sum} = {total_parts}$ equal parts"
    unit_claim = f"${total} \\div {total_parts} = {u}$ {noun}"
    if d.steps == 2:
        steps = [f"{parts_claim}, so each part is {unit_claim}."]
    else:
        steps = [f"{parts_claim}.", f"Each part is {unit_claim}."]
    if d.steps <= 3:
        i = rng.randrange(2)
        problem += f"How many {labels[i]} are there?"
        steps.append(f"So there are ${parts[i]} \\times {u} = {res(parts[i] * u, True)}$ {labels[i]}.")
        return Draft(problem, tuple(steps), str(parts[i] * u))
    hi, lo = (len(parts) - 1, 0) if d.steps == 5 else (0, 1)
    if parts[hi] < parts[lo]:
        hi, lo = lo, hi
    problem += f"How many more {labels[hi]} than {labels[lo]} are there?"
    big, small = parts[hi] * u, parts[lo] * u
    if d.steps == 4:
        steps.append(f"There are ${parts[hi]} \\times {u} = {big}$ {labels[hi]} and "
                     f"${parts[lo]} \\times {u} = {small}$ {labels[lo]}.")
    else:
        steps += [f"There are ${parts[hi]} \\times {u} = {big}$ {labels[hi]}.",
                  f"There are ${parts[lo]} \\times {u} = {small}$ {labels[lo]}."]
    steps.append(f"So there are ${big} - {small} = {res(big - small, True)}$ more {labels[hi]}.")
    return Draft(problem, tuple(steps), str(big - small))
