"""The stream's lifecycle (``_pipeline/lifecycle.py``): its events move it along the diagram, and nothing else."""

from __future__ import annotations

import pytest

from mistral_client._pipeline.lifecycle import Lifecycle, LifecycleError, State


def test_a_stream_read_to_its_end() -> None:
    lifecycle = Lifecycle()
    assert lifecycle.send() and lifecycle.state is State.SENDING
    assert not lifecycle.send()  # sent once only
    assert lifecycle.answered() and lifecycle.state is State.OPEN
    assert lifecycle.close() and lifecycle.state is State.CLOSED
    assert not lifecycle.close()


def test_a_cancel_before_the_first_use_closes_without_sending() -> None:
    lifecycle = Lifecycle()
    assert lifecycle.cancel() is State.NEW
    assert lifecycle.state is State.CLOSED and lifecycle.cancel_asked
    assert not lifecycle.send()


def test_a_cancel_while_sending_leaves_the_answer_to_be_cut() -> None:
    lifecycle = Lifecycle()
    lifecycle.send()
    assert lifecycle.cancel() is State.SENDING
    assert not lifecycle.answered()  # the caller cuts the socket instead of reading
    assert lifecycle.state is State.CANCELLED


def test_a_failed_send_may_be_sent_again_unless_cancelled() -> None:
    lifecycle = Lifecycle()
    lifecycle.send()
    lifecycle.send_failed()
    assert lifecycle.state is State.NEW
    lifecycle.send()
    lifecycle.cancel()
    lifecycle.send_failed()
    assert lifecycle.state is State.CLOSED


def test_the_deadline_stops_only_an_open_stream_and_a_cancel_wins_over_it() -> None:
    lifecycle = Lifecycle()
    assert not lifecycle.expire()
    lifecycle.send()
    lifecycle.answered()
    assert lifecycle.expire() and lifecycle.state is State.EXPIRED
    assert not lifecycle.expire()
    assert lifecycle.cancel() is State.EXPIRED and lifecycle.state is State.CANCELLED
    assert not lifecycle.expire()


def test_a_cancel_after_the_end_is_remembered_but_changes_nothing() -> None:
    lifecycle = Lifecycle()
    lifecycle.send()
    lifecycle.answered()
    lifecycle.close()
    assert lifecycle.cancel() is State.CLOSED
    assert lifecycle.state is State.CLOSED and lifecycle.cancel_asked


def test_an_impossible_change_raises() -> None:
    lifecycle = Lifecycle()
    with pytest.raises(LifecycleError, match="NEW to OPEN"):
        lifecycle.to(State.OPEN)
    lifecycle.close()
    with pytest.raises(LifecycleError, match="CLOSED to NEW"):
        lifecycle.to(State.NEW)
