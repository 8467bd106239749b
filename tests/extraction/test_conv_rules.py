"""Conversation-step rules, one hand-worked case each (spec: extraction.md)."""

from __future__ import annotations

import hashlib

from dialogpt.extraction.instances import ConvFilters, ConvOptions
from dialogpt.blocklist import WordBlocklist

from .conftest import comment, submission

WORDS31 = " ".join(["word"] * 31)
TEST_SIDE = ConvOptions(leaves_only=False)


def test_chain_leaves_scores_and_order(month_runner):
    lines, report = month_runner.run([submission("s1")], [
        comment("a", "t3_s1", "Hello there friend"),
        comment("b", "a", "hi how are you", score=2),
        comment("c", "b", "fine thanks"),
        comment("d", "a", "ok cool", score=None),     # null score counts as 0 < MIN_SCORE
        comment("e", "t3_s1", "lonely top comment", score=5),  # one turn < MIN_DEPTH
    ])
    assert lines == ["t3_s1,t1_b,t1_c\t1.0 Hello there friend EOS 1.0 hi how are you\t1.0 fine thanks"]
    assert report["conv"]["skipped"] == {"not_leaf": 2, "low_score": 1, "min_depth": 1}
    assert report["conv"]["instances"] == 1
    assert report["conv"]["avg_target_tokens"] == 3.0  # "1.0 fine thanks"


def test_test_side_every_comment_is_a_target_without_weights(month_runner):
    lines, report = month_runner.run([submission("s1")], [
        comment("a", "t3_s1", "Hello there friend"),
        comment("b", "a", "hi how are you"),
        comment("c", "b", "fine thanks"),
        comment("f", "a", "coffee please now"),
    ], options=TEST_SIDE, filters=ConvFilters(words=WordBlocklist(["coffee"])))
    assert lines == ["t3_s1,t1_a,t1_b\tHello there friend\thi how are you",
                     "t3_s1,t1_b,t1_c\tHello there friend EOS hi how are you\tfine thanks"]
    assert report["conv"]["skipped"] == {"min_depth": 1, "offensive": 1}


def test_depth_long_turns_and_missing_parents(month_runner):
    names = ["one", "two", "three", "four", "five", "six", "seven"]
    chain = [comment("p1", "t3_s1", "turn one")]
    chain += [comment(f"p{i + 1}", f"p{i}", f"turn {names[i]}") for i in range(1, 7)]
    lines, report = month_runner.run([submission("s1")], chain + [
        comment("r1", "t3_s1", "root comment here"),
        comment("r2", "r1", WORDS31),                 # > 30 words: ends the chain of r3
        comment("r3", "r2", "short reply"),
        comment("t1", "t3_s1", "root again"),
        comment("t2", "t1", WORDS31),                 # an over-long target: no instance
        comment("m1", "t1_zzz", "orphan parent here"),  # parent never seen: chain ends
        comment("m2", "m1", "reply to orphan"),
    ])
    assert lines == [
        "t3_s1,t1_m1,t1_m2\t1.0 orphan parent here\t1.0 reply to orphan",
        "t3_s1,t1_p6,t1_p7\t1.0 turn three EOS 1.0 turn four EOS 1.0 turn five EOS 1.0 turn six"
        "\t1.0 turn seven",
    ]
    assert report["conv"]["skipped"]["min_depth"] == 2


def test_each_instance_filter(month_runner):
    many_tokens = " ".join(["ab,"] * 30)  # 30 words, 60 tokens (+ the weight)
    lines, report = month_runner.run([submission("s1"), submission("s2")], [
        comment("q", "t3_s1", "what do you think"),
        comment("x1", "q", "@@ ~~"),                     # nothing left: empty target
        comment("x2", "q", "a" * 31 + " word"),          # a 31-character word
        comment("x3", "q", "see http://x.com now"),      # __url__
        comment("x4", "q", "this (is) it"),              # brackets
        comment("x5", "q", "that is AWESOME man"),       # 5 capitals in a row
        comment("x6", "q", "no no no way"),              # a word three times in a row
        comment("x7", "q", "the URL thing"),             # the literal URL becomes __url__
        comment("x8", "q", "Great, thanks!"),
        comment("x9", "q", "I can't b/c it's 8:30 w/ you"),
        comment("l1", "t3_s2", many_tokens, link="s2"),
        comment("l2", "l1", many_tokens, link="s2"),
        comment("l3", "l2", many_tokens, link="s2"),
        comment("l4", "l3", many_tokens, link="s2"),      # 3*61 + 2 EOS + 61 = 246 > 200
    ])
    assert lines == [
        "t3_s1,t1_q,t1_x8\t1.0 what do you think\t1.0 Great , thanks !",
        "t3_s1,t1_q,t1_x9\t1.0 what do you think\t1.0 I can't because it's 8: 30 with you",
    ]
    skipped = report["conv"]["skipped"]
    assert (skipped["empty_target"], skipped["long_word"], skipped["url"], skipped["brackets"],
            skipped["all_caps"], skipped["repetitions"], skipped["too_long"]) == (1, 1, 2, 1, 1, 1, 1)


def test_weights_keys_and_blocklists(month_runner):
    keep = {f"t3_s1\tt1_{cid}" for cid in ("y1", "y2", "y3", "y4", "y6")} | {"t3_s2\tt1_z2"}
    filters = ConvFilters(
        keep_keys=keep,
        discard_hashes={hashlib.sha224(b"thanks a lot").hexdigest()},
        words=WordBlocklist(["coffee", "Really Good"]),
        subreddits={"badplace"})
    lines, report = month_runner.run([submission("s1"), submission("s2", subreddit="BadPlace")], [
        comment("q", "t3_s1", "what do you think"),
        comment("y1", "q", "I like coffee"),
        comment("y2", "q", "thanks a lot"),
        comment("y3", "q", "that is really good stuff"),
        comment("y4", "q", "coffeecup is fine"),
        comment("y5", "q", "not in keys here"),
        comment("q2", "t3_s1", "coffee talk here"),
        comment("y6", "q2", "nice one"),
        comment("z1", "t3_s2", "bad place talk", link="s2"),
        comment("z2", "z1", "more bad talk", link="s2"),
    ], filters=filters)
    assert lines == [
        "t3_s1,t1_q,t1_y1\t1.0 what do you think\t0.0 I like coffee",
        "t3_s1,t1_q,t1_y2\t1.0 what do you think\t0.0 thanks a lot",
        "t3_s1,t1_q,t1_y3\t1.0 what do you think\t0.0 that is really good stuff",
        "t3_s1,t1_q,t1_y4\t1.0 what do you think\t1.0 coffeecup is fine",
        "t3_s1,t1_q2,t1_y6\t0.0 coffee talk here\t1.0 nice one",
    ]
    assert report["conv"]["skipped"]["not_in_keys"] == 4  # y5, and the non-leaves q, q2, z1
    assert report["conv"]["skipped"]["blocked_subreddit"] == 1


def test_subreddit_list_drops_targets_of_unknown_submissions(month_runner):
    # An empty title makes the submission row too short to read back (as in the original).
    lines, report = month_runner.run([submission("s1", title="")], [
        comment("a", "t3_s1", "Hello there friend"),
        comment("b", "a", "hi how are you"),
    ], filters=ConvFilters(subreddits=set()))
    assert lines == []
    assert report["conv"]["skipped"]["missing_submission"] == 1


def test_title_as_first_turn(month_runner):
    lines, _ = month_runner.run([submission("s1", title="A title")], [
        comment("a", "t3_s1", "Hello there friend"),
        comment("b", "a", "hi how are you"),
    ], options=ConvOptions(use_title=True))
    assert lines == ["t3_s1,t1_a,t1_b\t1.0 title : A title EOS 1.0 Hello there friend"
                     "\t1.0 hi how are you"]


def test_zero_instances_is_fine(month_runner):
    lines, report = month_runner.run([submission("s1")], [comment("a", "t3_s1", "only one here")])
    assert lines == []
    assert report["conv"]["instances"] == 0 and report["conv"]["avg_target_tokens"] == 0.0


def test_rerun_replaces_instead_of_appending(month_runner):
    records = ([submission("s1")], [comment("a", "t3_s1", "Hello there friend"),
                                     comment("b", "a", "hi how are you")])
    first, _ = month_runner.run(*records)
    second, _ = month_runner.run(*records)
    assert first == second and len(first) == 1
