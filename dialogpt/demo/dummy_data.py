"""Deterministic dummy Reddit dumps for the offline demo (``python demo.py --data dummy``).

Writes ``RS_YYYY-MM.zst`` / ``RC_YYYY-MM.zst`` in the pushshift JSON-lines format, so the demo
runs the real extractor on them. Threads are small templated small-talk exchanges (greetings,
favourite things, plans, opinions) with branching replies: learnable in a few hundred steps of a
tiny model, and every comment passes the extractor's filters unless made to fail on purpose
(a few ``[deleted]`` bodies, quotes and low scores keep the filters busy).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

SLOTS = {
    "color": ["blue", "green", "red", "yellow", "purple", "orange", "black", "white"],
    "food": ["pizza", "pasta", "sushi", "tacos", "curry", "salad", "pancakes", "soup"],
    "animal": ["dog", "cat", "rabbit", "parrot", "horse", "turtle", "hamster", "fox"],
    "city": ["paris", "tokyo", "london", "berlin", "seattle", "rome", "sydney", "toronto"],
    "hobby": ["hiking", "painting", "cooking", "gaming", "reading", "swimming", "running",
              "drawing"],
    "day": ["monday", "tuesday", "friday", "saturday", "sunday"],
    "game": ["chess", "football", "tennis", "basketball", "poker"],
}

# Each exchange is a chain of turns; "{x}" slots are filled per thread. A list branches into
# alternative replies (each becomes its own reply comment); a tuple is a choice of one.
EXCHANGES: list[list[str | list[str] | tuple[str, ...]]] = [
    ["what is your favorite color ?", "i really like {color} , it is calm .",
     ["{color} is a great choice !", "really ? i thought you liked {color2} ."],
     ("haha yes , {color} all the way .", "well , {color2} is nice too .", "i like it a lot .")],
    ["what did you have for dinner ?", "i had {food} with my family .",
     ["{food} sounds delicious !", "i had {food2} , it was nice too ."],
     ("thanks , it really was good .", "yes , i love {food} .", "it was ok , a bit salty .")],
    ["do you have any pets ?", "yes , i have a {animal} named max .",
     ["a {animal} ! that is so cute .", "i always wanted a {animal} ."],
     ("he is the best , i love him .", "you should get one !", "he sleeps all day haha .")],
    ["have you ever been to {city} ?", "yes , i went to {city} last year .",
     ["how was the food in {city} ?", "i want to visit {city} too ."],
     ("you should go , it is amazing .", "the food was great .", "it was too crowded for me .")],
    ["what do you do for fun ?", "mostly {hobby} on weekends .",
     ["{hobby} is fun , i do it too .", "i never tried {hobby} , is it hard ?"],
     ("it is easy once you start .", "not at all , just try it .", "it takes some practice .")],
    ["are you free on {day} ?", "yes , what do you have in mind ?",
     ["we could play {game} .", "let us get {food} together ."],
     ("sounds like a plan , see you then !", "great , see you on {day} .", "sure , text me later .")],
    ["good morning , how are you ?", "i am doing well , thanks for asking .",
     ["glad to hear that !", "nice , any plans for today ?"],
     ("just {hobby} and relaxing .", "maybe some {hobby} later .", "nothing special , you ?")],
    ["who wants to play {game} tonight ?", "i am in , what time ?",
     ["around eight works for me .", "after dinner , maybe nine ."],
     ("perfect , see you there .", "ok , i will bring snacks .", "cool , count me in .")],
    ["i just adopted a {animal} !", "congratulations ! what is its name ?",
     ["we called it lucky .", "still thinking , any ideas ?"],
     ("that is a lovely name .", "how about buddy ?", "cute , post a picture !")],
    ["what is the best food in {city} ?", "you have to try the {food} there .",
     ["is it expensive ?", "i will try it next time ."],
     ("not really , it is worth it .", "a little , but it is good .", "yes , but you only live once .")],
]

NOISE_BODIES = ["[deleted]", "> quoting someone here", "ok"]  # dropped by the extractor


DUMMY_MONTHS = ("2011-01", "2011-02", "2011-03")
"""The months of the dummy dumps (``demo.py --data dummy``)."""


@dataclass(frozen=True)
class DummySpec:
    months: tuple[str, ...] = DUMMY_MONTHS
    threads_per_month: int = 600
    seed: int = 1234


def _fill(template: str, slots: dict[str, str]) -> str:
    return template.format(**slots)


def _thread_comments(rng: random.Random, link_id: str, next_id, created: int) -> list[dict]:
    """One thread: the exchange's first turn is a top-level comment, replies chain below it."""
    exchange = rng.choice(EXCHANGES)
    slots = {name: rng.choice(values) for name, values in SLOTS.items()}
    slots.update({f"{name}2": rng.choice(values) for name, values in SLOTS.items()})
    comments: list[dict] = []

    def add(body: str, parent: str, score: int) -> str:
        cid = next_id()
        comments.append({"id": cid, "link_id": link_id, "parent_id": parent, "body": body,
                         "score": score, "created_utc": created + len(comments),
                         "author": f"user{rng.randrange(500)}", "subreddit": "casualconversation",
                         "permalink": f"/r/casualconversation/comments/{link_id[3:]}/chat/{cid}/"})
        return f"t1_{cid}"

    parents = [link_id]
    for turn in exchange:
        if isinstance(turn, tuple):
            turn = rng.choice(turn)
        options = turn if isinstance(turn, list) else [turn]
        new_parents = []
        for parent in parents:
            for option in options:
                new_parents.append(add(_fill(option, slots), parent, rng.randint(1, 50)))
        parents = new_parents
    if rng.random() < 0.1:
        add(rng.choice(NOISE_BODIES), parents[0], rng.randint(-3, 5))
    return comments


def write_dummy_dumps(dumps_dir: str | Path, spec: DummySpec = DummySpec()) -> list[Path]:
    """Write ``RS_M.zst`` and ``RC_M.zst`` for every month of ``spec``; returns the paths.

    Existing files are left alone (the output is a pure function of ``spec``). Each file is
    written to a temporary name and renamed, so an interrupted run never leaves a short dump.
    """
    import orjson
    import zstandard

    from dialogpt.fileio import atomic_write

    dumps_dir = Path(dumps_dir)
    written = []
    for month_index, month in enumerate(spec.months):
        rng = random.Random(f"{spec.seed}-{month}")
        counter = iter(range(10**9))

        def next_id(prefix=f"d{month_index}"):
            return f"{prefix}{next(counter):05d}"

        submissions, comments = [], []
        created = 1293840000 + month_index * 2678400
        for _ in range(spec.threads_per_month):
            sid = next_id(f"s{month_index}")
            thread = _thread_comments(rng, f"t3_{sid}", next_id, created)
            submissions.append({"id": sid, "num_comments": len(thread), "title": "chat thread",
                                "domain": "self.casualconversation",
                                "subreddit": "casualconversation", "created_utc": created,
                                "score": rng.randint(1, 100),
                                "permalink": f"/r/casualconversation/comments/{sid}/chat/"})
            comments.extend(thread)
            created += 60
        for kind, rows in (("RS", submissions), ("RC", comments)):
            path = dumps_dir / f"{kind}_{month}.zst"
            written.append(path)
            if path.exists():
                continue
            payload = b"".join(orjson.dumps(row) + b"\n" for row in rows)
            with atomic_write(path, "wb") as out:
                out.write(zstandard.ZstdCompressor(level=10).compress(payload))
    return written
