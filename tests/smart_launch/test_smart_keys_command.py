"""`manage.py smart_keys ensure|rotate|list`: what each action makes, retires and prints."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from smart_launch.models import ClientKey

pytestmark = pytest.mark.django_db


def _run(action: str) -> list[str]:
    out = StringIO()
    call_command("smart_keys", action, stdout=out)
    return out.getvalue().splitlines()


class SmartKeysCommandTests:
    def test_ensure_makes_one_active_key_per_algorithm_and_is_idempotent(self) -> None:
        first = _run("ensure")
        keys = {k.alg: k.kid for k in ClientKey.objects.filter(active=True)}
        assert set(keys) == {"RS384", "ES384"}
        assert {f"made {alg} key {kid}" for alg, kid in keys.items()} <= set(first)
        second = _run("ensure")
        assert not any(line.startswith("made ") for line in second)
        assert ClientKey.objects.count() == 2

    def test_rotate_retires_the_active_pair_and_lists_both_generations(self) -> None:
        _run("ensure")
        old = set(ClientKey.objects.values_list("kid", flat=True))
        lines = _run("rotate")
        new = set(ClientKey.objects.filter(active=True).values_list("kid", flat=True))
        assert len(new) == 2 and new.isdisjoint(old)
        assert sum(line.startswith("made ") for line in lines) == 2
        for kid in old:
            assert any(kid in line and " retired " in line for line in lines), lines
        for kid in new:
            assert any(line.endswith(f"{kid} active") for line in lines), lines

    def test_list_makes_nothing(self) -> None:
        assert _run("list") == []
        assert not ClientKey.objects.exists()

    def test_an_unknown_action_is_refused(self) -> None:
        with pytest.raises(CommandError, match="invalid choice: 'delete'"):
            call_command("smart_keys", "delete")
