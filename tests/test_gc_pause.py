import gc

from dialogpt.gc_pause import gc_paused


def test_the_collector_is_off_inside_and_as_before_after():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a caller's own pause is kept
    finally:
        gc.enable()


def test_objects_made_inside_stay_frozen_only_when_asked():
    gc.unfreeze()
    with gc_paused(keep_frozen=True):
        kept = [[] for _ in range(1000)]
    try:
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()
    with gc_paused():
        made = [[] for _ in range(1000)]
    assert gc.get_freeze_count() == 0 and len(made) == 1000
