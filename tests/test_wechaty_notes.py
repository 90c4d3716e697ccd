"""Notes to the adviser's note target: coalesced and rate-limited (bot.channels.notes)."""

from __future__ import annotations

import asyncio

from bot.channels.notes import NOTE_MORE, NoteSender


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _never(text: str) -> None:  # the policy tests never send
    raise AssertionError(text)


def sender(clock: Clock, **limits: float) -> NoteSender:
    settings = {"min_interval_s": 10.0, "per_hour": 3, "max_items": 2} | limits
    return NoteSender(
        send=_never,
        connected=lambda: True,
        min_interval_s=settings["min_interval_s"],
        per_hour=int(settings["per_hour"]),
        max_items=int(settings["max_items"]),
        clock=clock,
    )


def test_what_arrives_meanwhile_is_coalesced_into_the_next_note() -> None:
    clock = Clock()
    notes = sender(clock)
    notes.add("【思语】张姐：多少钱")
    assert notes.take() == "【思语】张姐：多少钱"
    for n in range(4):  # a burst inside the minimum interval
        notes.add(f"note {n}")
    assert notes.take() is None and notes.wait_s() == 10.0
    clock.now += 10
    assert notes.take() == "note 0\n\nnote 1\n\n" + NOTE_MORE.format(n=2)
    assert notes.pending == 0 and notes.coalesced == 1


def test_at_most_per_hour_notes_then_they_wait() -> None:
    clock = Clock()
    notes = sender(clock, min_interval_s=0)
    for n in range(3):
        notes.add(f"n{n}")
        assert notes.take() == f"n{n}"
    notes.add("n3")
    assert notes.take() is None
    assert notes.wait_s() == 3600.0  # until the first of the hour's notes is an hour old
    clock.now += 3600
    assert notes.take() == "n3"


def test_a_long_outage_keeps_a_bounded_count_not_every_note() -> None:
    clock = Clock()
    notes = sender(clock, max_items=1)
    for n in range(100):
        notes.add(f"n{n}")
    assert notes.pending == 100
    text = notes.take()
    assert text is not None and text.startswith("n80") and NOTE_MORE.format(n=99) in text


def test_the_sender_sends_only_when_connected() -> None:
    sent: list[str] = []
    connected = False

    async def send(text: str) -> None:
        sent.append(text)

    async def main() -> None:
        nonlocal connected
        notes = NoteSender(
            send=send,
            connected=lambda: connected,
            min_interval_s=0,
            per_hour=100,
            max_items=5,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(notes.run(stop))
        notes.add("a")
        notes.add("b")
        await asyncio.sleep(0.1)
        assert sent == []  # disconnected: kept
        connected = True
        for _ in range(300):
            if sent:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    assert sent == ["a\n\nb"]
