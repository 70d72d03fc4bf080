"""`fetch_datasets` against a real HTTP server on loopback serving official-format files built from the data.

Real HTTP (a threaded server with byte ranges), real archives and conversions checked against the repository's
SHA256SUMS; a corrupted file, a transfer cut off half-way and resumed, and no reachable source at all.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from datasources import catalogue, download, fetch
from datasources.digest import content_digest, pinned_sums
from datasources.location import data_dir
from tests.datasources import mirror
from tests.datasources.server import MirrorState, serve

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path(str(settings.SHARED_DATA))


def _env(data: Path, base: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k not in ("STRATIFY_DATA_DIR", "STRATIFY_DATA_MIRROR")}
    return {**keep, "STRATIFY_DATA_DIR": str(data), "STRATIFY_DATA_MIRROR": base}


def _output(path: str) -> catalogue.Output:
    return next(o for o in catalogue.OUTPUTS if o.path == path)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def demo_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mirror")
    mirror.build(root, REFERENCE, demo=True)
    return root


@pytest.fixture
def stays_mirror(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    mirror.write_stays(root, "B", REFERENCE / catalogue.SET_B, catalogue.demo_patients())
    return root


@pytest.mark.slow
def test_demo_data_download_convert_verify_and_a_second_run_downloads_nothing(
    demo_mirror: Path, tmp_path: Path, db: None
) -> None:
    data, state = tmp_path / "data", MirrorState(demo_mirror)
    with serve(state) as base:
        first = subprocess.run(
            [sys.executable, "-m", "datasources", "--demo"],
            cwd=ROOT,
            env=_env(data, base),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert first.returncode == 0, first.stderr
        assert _files(data) == sorted([catalogue.DEMO_SET_B, catalogue.SYNTHEA_BUNDLES])  # no .part, .tmp, cache
        sums = pinned_sums()
        assert all(content_digest(data / name) == sums[name] for name in _files(data))
        assert "about 180.2 MB to download" in first.stdout and "200/200 files" in first.stderr
        served = len(state.requests)
        again = subprocess.run(
            [sys.executable, "-m", "datasources", "--demo"],
            cwd=ROOT,
            env=_env(data, base),
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert again.returncode == 0 and "present and verified" in again.stdout
    assert len(state.requests) == served
    # The sandbox loader reads the demo's subset when the full set B is not there.
    call_command("load_sandbox_data", "--physionet", "2", "--no-synthea", "--data-dir", str(data), verbosity=0)


def test_a_corrupted_source_places_nothing_and_is_downloaded_afresh(stays_mirror: Path, tmp_path: Path) -> None:
    bad = download.cache_path(stays_mirror, catalogue.PHYSIONET.format("B", "p100001"))
    bad.write_text(bad.read_text().replace("|73|1|1|0|", "|74|1|1|0|", 1))
    data, output = tmp_path / "data", _output(catalogue.DEMO_SET_B)
    with serve(MirrorState(stays_mirror)) as base, pytest.raises(download.DownloadError, match="SHA256SUMS"):
        fetch.build_output(output, data, _env(data, base), say=lambda line: None)
    assert _files(data) == []  # no output, no temporary file, and the bad downloads are gone


def test_a_file_with_a_pinned_checksum_is_refused(demo_mirror: Path, tmp_path: Path) -> None:
    source = _output(catalogue.SYNTHEA_BUNDLES).sources()[0]
    served = tmp_path / "mirror"
    copy = download.cache_path(served, source.url)
    copy.parent.mkdir(parents=True)
    copy.write_bytes(download.cache_path(demo_mirror, source.url).read_bytes()[:-2] + b"}\n")
    target = tmp_path / "bundle.json"
    with serve(MirrorState(served)) as base, pytest.raises(download.DownloadError, match="checksum mismatch"):
        download.fetch(download.resolve(source.url, {"STRATIFY_DATA_MIRROR": base}), target, source.sha256)
    assert _files(tmp_path / "bundle.json") == [] and not target.exists()
    assert not target.with_name("bundle.json.part").exists()


@pytest.mark.parametrize("ranges", [True, False], ids=["server-resumes", "server-ignores-ranges"])
def test_an_interrupted_download_resumes(tmp_path: Path, ranges: bool) -> None:
    served, data, output = tmp_path / "mirror", tmp_path / "data", _output(catalogue.DIABETES)
    mirror.write_uci(served, REFERENCE / catalogue.DIABETES)
    path = "/" + str(download.cache_path(Path(), catalogue.UCI_DIABETES))
    state = MirrorState(served, honour_ranges=ranges, cut_after={path: 1_000_000})
    with serve(state) as base:
        env = _env(data, base)
        with pytest.raises(download.DownloadError, match="run again to resume"):
            fetch.build_output(output, data, env, say=lambda line: None)
        part = download.cache_path(data / fetch.DOWNLOADS, catalogue.UCI_DIABETES)
        assert part.with_name(part.name + ".part").stat().st_size == 1_000_000
        assert not (data / catalogue.DIABETES).exists()
        fetch.build_output(output, data, env, say=lambda line: None)
    assert content_digest(data / catalogue.DIABETES) == pinned_sums()[catalogue.DIABETES]
    assert [r[2] for r in state.requests if r[0] == "GET"] == ["", "bytes=1000000-"]


def test_without_data_network_or_mirror_one_message_says_what_to_do(tmp_path: Path) -> None:
    env = _env(tmp_path / "data", f"http://127.0.0.1:{_closed_port()}")
    result = subprocess.run(
        [sys.executable, "-m", "datasources", "--demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and result.stdout == ""
    message = result.stderr
    assert message.startswith(f"Stratify's data sets are not in {tmp_path / 'data'} (STRATIFY_DATA_DIR is set)")
    for needed in (
        "synthea/synthea_r4_inpatient_bundles.tar.gz",
        "178.6 MB",
        "1.6 MB",
        "did not answer",
        "set STRATIFY_DATA_DIR",
        "set STRATIFY_DATA_MIRROR",
        "physionet.org",
        "about 180.2 MB",
    ):
        assert needed in message
    assert "Traceback" not in message


def test_manage_py_fetch_datasets_gives_the_same_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATIFY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STRATIFY_DATA_MIRROR", f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(CommandError, match="(?s)Stratify's data sets are not in .* set STRATIFY_DATA_MIRROR"):
        call_command("fetch_datasets")


class DataFolderTests:
    """One rule finds the data: STRATIFY_DATA_DIR, else shared/data beside the checkout, else var/data."""

    def test_the_variable_wins(self, tmp_path: Path) -> None:
        (tmp_path / "shared" / "data").mkdir(parents=True)
        chosen = tmp_path / "elsewhere"
        assert data_dir({"STRATIFY_DATA_DIR": str(chosen)}, tmp_path / "checkout") == chosen

    def test_shared_data_beside_the_checkout(self, tmp_path: Path) -> None:
        (tmp_path / "shared" / "data").mkdir(parents=True)
        assert data_dir({}, tmp_path / "checkout") == tmp_path / "shared" / "data"

    def test_else_the_local_cache(self, tmp_path: Path) -> None:
        assert data_dir({}, tmp_path / "checkout") == tmp_path / "checkout" / "var" / "data"

    def test_the_settings_use_the_same_rule(self) -> None:
        assert Path(str(settings.SHARED_DATA)) == data_dir()


def test_the_test_fixture_is_rebuilt_from_set_a_byte_for_byte(tmp_path: Path) -> None:
    from datasources import convert

    convert.physionet_sample(REFERENCE / catalogue.SET_A, tmp_path / "sample.csv")
    assert content_digest(tmp_path / "sample.csv") == pinned_sums()[catalogue.SAMPLE]
