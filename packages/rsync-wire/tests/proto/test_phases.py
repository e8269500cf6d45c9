"""The three phase machines run back to back: generator -> sender -> receiver.

Each session is played as the roles play it: the generator writes its markers stage by
stage, waiting for the milestones the receiver reports; the sender reads them in its loop
and then in its finish; the receiver reads the sender's echoes, its loop-end marker, the
statistics and the final exchange. Every combination must end with each role finished,
every marker read by someone, every file list freed once on each side, and the milestones
in order, or the real roles would hang or fail on a marker they did not expect.
"""

from __future__ import annotations

from collections import deque

import pytest

from rsync_wire.proto.phases import (
    DEL_STATS,
    DONE,
    GeneratorPhases,
    ReceiverPhases,
    SenderFinish,
    SenderPhases,
)

STATS = "stats"  # the sender's statistics (a server sender)


class Session:
    """Three machines and the two one-way channels between them."""

    def __init__(
        self, protocol: int, *, inc: bool, lists: int, delete_late: bool, del_stats: bool
    ) -> None:
        self.inc = inc
        self.gen = GeneratorPhases(
            protocol=protocol, inc=inc, delete_late=delete_late, del_stats=del_stats
        )
        self.snd = SenderPhases(protocol=protocol, inc=inc)
        self.fin = SenderFinish(protocol=protocol)
        self.rcv = ReceiverPhases(protocol=protocol, inc=inc)
        self.g2s: deque[str] = deque()
        self.s2r: deque[str] = deque()
        self.sender_lists = lists if inc else 0
        self.receiver_lists = lists if inc else 0
        self.sender_stage = "loop"
        self.receiver_stage = "loop"
        self.milestones: list[str] = []
        self.forwarded_stats = 0

    def pump_sender(self) -> None:
        while self.g2s:
            marker = self.g2s.popleft()
            if marker == DEL_STATS:
                assert self.sender_stage == "finish", "deletion statistics inside the loop"
                self.s2r.append(DEL_STATS)  # a client sender would print them instead
                self.forwarded_stats += 1
                continue
            assert marker == DONE
            if self.sender_stage == "loop":
                step = self.snd.on_done(lists_left=self.sender_lists)
                if step.free:
                    assert self.sender_lists > 0
                    self.sender_lists -= 1
                if step.echo:
                    self.s2r.append(DONE)
                if step.end:
                    self.s2r.extend(SenderFinish.after_loop())
                    self.s2r.append(STATS)
                    self.sender_stage = "finish"
            elif self.sender_stage == "finish":
                if self.fin.on_done():
                    self.s2r.append(DONE)
                else:
                    self.sender_stage = "gone"
            else:
                pytest.fail("a marker after the goodbye")

    def pump_receiver(self) -> None:
        while self.s2r:
            marker = self.s2r.popleft()
            if self.receiver_stage == "loop":
                assert marker == DONE, marker
                step = self.rcv.on_done(lists_left=self.receiver_lists, eof=True)
                if step.free:
                    assert self.receiver_lists > 0
                    self.receiver_lists -= 1
                if step.milestone is not None:
                    self.milestones.append(step.milestone)
                if step.end:
                    self.receiver_stage = "stats"
            elif self.receiver_stage == "stats":
                assert marker == STATS
                self.milestones.append("loop")
                self.receiver_stage = "final" if self.rcv.final else "done"
            elif self.receiver_stage == "final":
                if marker == DEL_STATS:
                    continue
                assert marker == DONE
                self.milestones.append("final")
                self.receiver_stage = "done"
            else:
                pytest.fail(f"the receiver got {marker!r} after its end")

    def run(self) -> None:
        gen = self.gen
        # the transfer: one marker per finished list, or one at the end
        if self.inc:
            self.g2s.extend([DONE] * self.receiver_lists)
        self.g2s.extend(gen.transfer_end())
        self._settle()
        assert self.milestones[:1] == ["phase1"], self.milestones
        self.g2s.extend(gen.after_redo())
        self._settle()
        assert "loop" in self.milestones, self.milestones
        self.g2s.extend(gen.after_loop())
        self._settle()
        if gen.waits_for_final:
            assert self.milestones[-1] == "final", self.milestones
        self.g2s.extend(gen.goodbye())
        self._settle()

    def _settle(self) -> None:
        for _ in range(10):
            self.pump_sender()
            self.pump_receiver()


@pytest.mark.parametrize("protocol", [27, 28, 29, 30, 31, 32])
@pytest.mark.parametrize("lists", [1, 2, 5])
@pytest.mark.parametrize("delete_late", [False, True])
@pytest.mark.parametrize("del_stats", [False, True])
def test_the_three_roles_finish_together(
    protocol: int, lists: int, delete_late: bool, del_stats: bool
) -> None:
    for inc in (False, True) if protocol >= 30 else (False,):
        session = Session(
            protocol, inc=inc, lists=lists, delete_late=delete_late, del_stats=del_stats
        )
        session.run()
        assert session.sender_stage == "gone"
        assert session.receiver_stage == "done"
        assert not session.g2s
        assert not session.s2r
        assert session.sender_lists == 0
        assert session.receiver_lists == 0
        phases = ["phase1", "phase2"] if protocol >= 29 else ["phase1"]
        tail = ["loop", "final"] if protocol >= 31 else ["loop"]
        assert session.milestones == phases + tail
        assert session.forwarded_stats == (1 if del_stats and protocol >= 31 else 0)


def test_with_incremental_recursion_only_the_last_list_ends_the_transfer() -> None:
    snd = SenderPhases(protocol=32, inc=True)
    assert snd.on_done(lists_left=3) == (True, True, False)
    assert snd.on_done(lists_left=2) == (True, True, False)
    assert snd.phase == 0
    assert snd.on_done(lists_left=1) == (True, True, False)
    assert snd.phase == 1
    rcv = ReceiverPhases(protocol=32, inc=True)
    # a list freed while more may still come never ends the transfer
    assert rcv.on_done(lists_left=1, eof=False) == (True, None, False)
    assert rcv.on_done(lists_left=1, eof=True) == (True, "phase1", False)


def test_below_protocol_29_there_is_no_second_phase() -> None:
    rcv = ReceiverPhases(protocol=28, inc=False)
    assert rcv.on_done(lists_left=0, eof=True).milestone == "phase1"
    assert rcv.on_done(lists_left=0, eof=True).end
    gen = GeneratorPhases(protocol=28, inc=False, delete_late=False, del_stats=True)
    assert gen.after_redo() == (DONE,)
    assert gen.after_loop() == ()
    assert not gen.waits_for_final
