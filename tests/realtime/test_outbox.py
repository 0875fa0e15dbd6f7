"""The socket's outbox (realtime.consumers.Outbox): a burst of one conversation's messages
becomes one frame, every message id once and in order, other pushes untouched and in order."""

import asyncio
import json

from realtime.consumers import DeskConsumer, Outbox


def _push(n, conversation, *, kind="message", direction="in", author=None, group="channel-1"):
    data = {"id": conversation, "message_ids": [n], "direction": direction, "author_id": author}
    data.update(created=n == 1, reopened=False, previous_status="pending" if n == 1 else "new")
    return {"type": "desk.push", "id": f"p{n}", "group": group, "kind": kind, "data": data}


def _frames(outbox):
    return [(f["kind"], f["data"]["id"], f["data"].get("message_ids")) for f in outbox.take()]


def test_a_burst_of_two_conversations_becomes_one_frame_each_newest_last():
    box = Outbox()
    for n, conversation in enumerate([7, 8, 7, 8, 7], start=1):
        box.add(_push(n, conversation))
    frames = box.take()
    assert [(f["data"]["id"], f["data"]["message_ids"]) for f in frames] == [
        (8, [2, 4]),
        (7, [1, 3, 5]),
    ]
    first = frames[1]
    assert first["data"]["created"] is True  # set once set
    assert first["data"]["previous_status"] == "pending"  # the first push's
    assert first["id"] == "p1+p3+p5"  # one encoding per merged frame, shared by the sockets
    assert not box


def test_another_push_of_the_conversation_in_between_keeps_the_order():
    box = Outbox()
    box.add(_push(1, 7))
    box.add(_push(2, 7, kind="conversation"))
    box.add(_push(3, 7))
    box.add(_push(4, 7, direction="out", author=5))
    box.add(_push(5, 7, direction="out", author=6))  # another author: a frame of its own
    assert _frames(box) == [
        ("message", 7, [1]),
        ("conversation", 7, [2]),
        ("message", 7, [3]),
        ("message", 7, [4]),
        ("message", 7, [5]),
    ]


def test_groups_are_kept_apart():
    box = Outbox()
    box.add(_push(1, 7, group="channel-1"))
    box.add(_push(2, 7, group="supervisors-1"))
    box.add(_push(3, 7, group="channel-1"))
    assert _frames(box) == [("message", 7, [2]), ("message", 7, [1, 3])]


def test_a_slow_client_gets_a_conversations_waiting_pushes_as_one_frame():
    """DeskConsumer's flush: while a send waits (the client's buffer is full), the pushes that
    arrive merge; the first goes out alone, nothing twice, nothing lost."""
    sent: list[dict] = []
    gate = asyncio.Event()

    class Slow(DeskConsumer):
        async def send(self, text_data=None, **kwargs):
            sent.append(json.loads(text_data))
            if len(sent) == 1:
                await gate.wait()  # the first frame blocks, like a full socket buffer

    async def scenario():
        socket = Slow()
        socket.joined, socket.language = {"channel-1"}, "en"
        socket.outbox, socket.flushing = Outbox(), None
        await socket.desk_push(_push(1, 7))
        await asyncio.sleep(0.01)  # the first frame is being sent (and waits)
        for n, conversation in [(2, 7), (3, 8), (4, 7)]:
            await socket.desk_push(_push(n, conversation))
        gate.set()
        while socket.flushing is not None:
            await asyncio.sleep(0.01)

    asyncio.run(scenario())
    assert [(f["data"]["id"], f["data"]["message_ids"]) for f in sent] == [
        (7, [1]),
        (8, [3]),
        (7, [2, 4]),
    ]
