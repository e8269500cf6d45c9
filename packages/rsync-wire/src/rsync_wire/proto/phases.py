"""The end-of-transfer choreography: what each NDX_DONE means, as one machine per role.

How this works: after the file lists, three roles exchange NDX_DONE markers. The
receiving side's generator writes them; the sender echoes them, adds one when its loop
ends and writes its statistics; the receiver reads the echoes. What a marker means
depends on the session:

* phase 1 (redo) always follows the transfer; phase 2 exists from protocol 29 (an empty
  one, that ``--delay-updates`` would use), and from protocol 31 a deletion phase ends
  with the generator's deletion statistics (NDX_DEL_STATS) and one more marker, which
  the sender echoes after its statistics;
* with incremental recursion the transfer phase ends one marker per file list: the
  generator writes one for each list it has finished, the sender frees its oldest list
  and echoes, the receiver frees its oldest list; the marker of the last list also ends
  the phase (no extra marker is written);
* ``--delete-after`` (and ``--delete-delay``) move the deletion statistics after the
  sender's loop; the generator then waits for that loop's end before it deletes.

Each role holds one of the machines below and asks it, for every marker it reads, what
to do (free a list, echo, change phase, stop), or which markers to write at each stage.
They do no I/O; ``tests/proto/test_phases.py`` runs the three back to back for every
protocol from 27 to 32, with and without incremental recursion.

rsync: generator.c generate_files(); sender.c send_files(); receiver.c recv_files();
main.c read_final_goodbye() (docs/protocol.md §10.9).
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = [
    "DEL_STATS",
    "DONE",
    "GeneratorPhases",
    "ReceiverPhases",
    "ReceiverStep",
    "SenderFinish",
    "SenderPhases",
    "SenderStep",
]

DONE: Final = "done"
"""An NDX_DONE marker."""
DEL_STATS: Final = "del_stats"
"""The deletion statistics (NDX_DEL_STATS and five numbers)."""


def _max_phase(protocol: int) -> int:
    return 2 if protocol >= 29 else 1


class SenderStep(NamedTuple):
    """What the sender does with a marker read in its loop.

    Attributes:
        free: forget the oldest file list (incremental recursion).
        echo: write a marker back.
        end: the loop ends (the sender then writes its own marker, see
            :class:`SenderFinish`).
    """

    free: bool
    echo: bool
    end: bool


class SenderPhases:
    """The sender's loop: each marker from the generator.

    Args:
        protocol: the session's protocol.
        inc: incremental recursion.

    rsync: sender.c send_files().
    """

    def __init__(self, *, protocol: int, inc: bool) -> None:
        self.max_phase = _max_phase(protocol)
        self.inc = inc
        self.phase = 0

    def on_done(self, *, lists_left: int) -> SenderStep:
        """A marker arrived; ``lists_left``: the file lists still held (0 without inc)."""
        free = self.inc and self.phase == 0 and lists_left > 0
        if free and lists_left > 1:
            return SenderStep(free=True, echo=True, end=False)
        self.phase += 1
        if self.phase > self.max_phase:
            return SenderStep(free=free, echo=False, end=True)
        return SenderStep(free=free, echo=True, end=False)


class SenderFinish:
    """After the sender's loop: its own marker, its statistics, then the goodbye.

    From protocol 31 the first marker read here (the deletion phase's) is echoed and the
    second is the goodbye; before, the first is the goodbye.

    rsync: sender.c send_files() (the last write_ndx()), main.c read_final_goodbye().
    """

    def __init__(self, *, protocol: int) -> None:
        self.del_stats = protocol >= 31
        self.echoed = False

    @staticmethod
    def after_loop() -> tuple[str, ...]:
        """What the sender writes when its loop ends (then its statistics, as a server)."""
        return (DONE,)

    def on_done(self) -> bool:
        """A marker arrived: ``True`` to echo it and read on, ``False``: the goodbye."""
        if self.del_stats and not self.echoed:
            self.echoed = True
            return True
        return False


class ReceiverStep(NamedTuple):
    """What the receiver does with a marker from the sender.

    Attributes:
        free: free the oldest file list.
        milestone: the phase reached, for the generator (``"phase1"``, ``"phase2"``), or
            ``None``.
        end: the sender's loop ended (its statistics follow, then the final exchange).
    """

    free: bool
    milestone: str | None
    end: bool


class ReceiverPhases:
    """The receiver's loop: each marker the sender echoes.

    Args:
        protocol: the session's protocol.
        inc: incremental recursion.

    rsync: receiver.c recv_files().
    """

    def __init__(self, *, protocol: int, inc: bool) -> None:
        self.max_phase = _max_phase(protocol)
        self.inc = inc
        self.phase = 0
        self.final = protocol >= 31

    def on_done(self, *, lists_left: int, eof: bool) -> ReceiverStep:
        """A marker arrived; ``lists_left``: lists not freed; ``eof``: no more will come."""
        free = False
        if self.inc and self.phase == 0 and lists_left > 0:
            free = True
            if lists_left > 1 or not eof:
                return ReceiverStep(free=True, milestone=None, end=False)
        self.phase += 1
        if self.phase > self.max_phase:
            return ReceiverStep(free=free, milestone=None, end=True)
        return ReceiverStep(free=free, milestone=f"phase{self.phase}", end=False)


class GeneratorPhases:
    """Which markers the generator writes at each stage, and what it waits for.

    Args:
        protocol: the session's protocol.
        inc: incremental recursion (phase 1 then ends with the lists' own markers).
        delete_late: ``--delete-after`` or ``--delete-delay``: deletions after the loop.
        del_stats: the generator has deletion statistics to send (``--delete*``,
            ``--force``).

    rsync: generator.c generate_files().
    """

    def __init__(self, *, protocol: int, inc: bool, delete_late: bool, del_stats: bool) -> None:
        self.protocol = protocol
        self.inc = inc
        self.delete_late = delete_late
        self.stats = del_stats and protocol >= 31
        self.final = protocol >= 31

    def transfer_end(self) -> tuple[str, ...]:
        """After the last entry was generated (with inc: nothing, each list had its own)."""
        return () if self.inc else (DONE,)

    def after_redo(self) -> tuple[str, ...]:
        """Once the sender echoed the end of the transfer and the redo requests were sent."""
        out: list[str] = [DONE]
        if self.protocol >= 29:
            out.append(DONE)
        if self.final and not self.delete_late:
            if self.stats:
                out.append(DEL_STATS)
            out.append(DONE)
        return tuple(out)

    def after_loop(self) -> tuple[str, ...]:
        """Once the sender's loop ended (and the late deletions were done)."""
        if self.final and self.delete_late:
            return (DEL_STATS, DONE) if self.stats else (DONE,)
        return ()

    @property
    def waits_for_final(self) -> bool:
        """Whether the generator waits for the echo of the deletion phase's marker."""
        return self.final

    @staticmethod
    def goodbye() -> tuple[str, ...]:
        """The last marker of the session."""
        return (DONE,)
