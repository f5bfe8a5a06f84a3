"""The window accounts share follows the event loop (deskhook.delivery.loop_lag), from the
readings it is given: how late the loop was, and how busy its thread."""

from deskhook.delivery.loop_lag import LoopWindow
from deskhook.domain.shares import LoopPolicy

POLICY = LoopPolicy(target=0.005, busy=0.8, floor=32)
BUSY = 1.0


def test_the_window_follows_the_mean_of_the_last_readings() -> None:
    window = LoopWindow(256, POLICY)
    # Too few readings to judge by.
    window.read(0.1, BUSY)
    window.read(0.1, BUSY)
    assert window.current == 256
    window.read(0.1, BUSY)
    assert window.current == 192
    # A reading on time beside two late ones keeps the mean over the target...
    window.read(0.0, BUSY)
    assert window.current == 144
    window.read(0.0, BUSY)
    assert window.current == 108
    # ...and once the late ones are gone the window grows back.
    window.read(0.0, BUSY)
    assert window.current == 121


def test_a_loop_late_while_its_thread_waited_leaves_the_window() -> None:
    window = LoopWindow(256, POLICY)
    for _ in range(5):
        window.read(0.1, 0.2)
    assert window.current == 256


def test_without_a_policy_the_window_stays() -> None:
    window = LoopWindow(256, None)
    for _ in range(5):
        window.read(1.0, BUSY)
    assert window.current == 256
