"""The collector pause of hot views: on again when the call ends, or when its held response is sent or dropped."""

import gc
import weakref
from collections.abc import Iterator

import pytest
from django.http import HttpResponse

from config.gc_pause import HeldResponse, collector_paused, gc_paused


class Parsed:
    """Stands for a parsed request (weakly referenceable, unlike a dict)."""


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_a_plain_answer_resumes_the_collector_when_the_view_returns() -> None:
    seen: list[bool] = []

    @gc_paused
    def view() -> HttpResponse:
        seen.append(gc.isenabled())
        return HttpResponse(b"{}")

    view()
    assert seen == [False] and gc.isenabled()


def test_a_held_answer_keeps_the_request_and_the_pause_until_it_is_closed() -> None:
    parsed = [Parsed()]
    alive = weakref.ref(parsed[0])

    @gc_paused
    def view() -> HttpResponse:
        return HeldResponse(b"{}", held=parsed.pop(), content_type="application/json")

    response = view()
    assert alive() is not None and not gc.isenabled()  # sent yet? no: still held, still paused
    response.close()
    assert alive() is None and gc.isenabled()
    response.close()  # a second close changes nothing
    assert gc.isenabled()


def test_a_held_answer_dropped_without_close_resumes_the_collector() -> None:
    @gc_paused
    def view() -> HttpResponse:
        return HeldResponse(b"{}", held=Parsed())

    response = view()
    assert not gc.isenabled()
    del response
    assert gc.isenabled()


def test_an_error_resumes_the_collector() -> None:
    @gc_paused
    def view() -> HttpResponse:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        view()
    assert gc.isenabled()


def test_pauses_nest_and_the_last_to_end_resumes() -> None:
    @gc_paused
    def view() -> HttpResponse:
        return HeldResponse(b"{}", held=Parsed())

    response = view()
    with collector_paused():
        response.close()
        assert not gc.isenabled()  # the inner pause still runs
    assert gc.isenabled()


def test_a_collector_off_before_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()
