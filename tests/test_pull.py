"""`agentsmall models pull` against a fake hub on 127.0.0.1: resolution through huggingface_hub,
the CDN redirect, resume after an interruption, checksum refusal, and failing fast offline.

Nothing here touches the real hub.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agentsmall.cli import main
from agentsmall.models import _registry
from agentsmall.models._presets import Preset
from agentsmall.models._pull import ModelDownloadError, cached_path, pull

REPO_ID = "test-org/tiny-GGUF"
FILENAME = "tiny-Q4_K_M.gguf"
CONTENT = b"GGUF" + os.urandom(3 * 1024 * 1024 + 123)
SHA256 = hashlib.sha256(CONTENT).hexdigest()

PRESET = Preset(
    name="tiny-test",
    title="A tiny test file",
    params="0",
    repo_id=REPO_ID,
    filename=FILENAME,
    size_bytes=len(CONTENT),
    quantization="Q4_K_M",
    license="Test License",
    license_url="https://example.invalid/license",
    context_length=512,
    tool_format="generic",
    role="planner",
)


@dataclass
class Hub:
    """What the fake hub serves and what it saw."""

    url: str = ""
    content: bytes = CONTENT
    served: bytes | None = None
    """Bytes actually sent for the file (to simulate corruption); default `content`."""
    cut_after: int | None = None
    """Close the connection after this many body bytes, once."""
    gated: bool = False
    heads: int = 0
    gets: list[dict[str, str]] = field(default_factory=list)


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            hub.heads += 1
            if self.path != f"/{REPO_ID}/resolve/main/{FILENAME}":
                self.send_response(404)
                self.send_header("X-Error-Code", "RepoNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if hub.gated:
                self.send_response(403)
                self.send_header("X-Error-Code", "GatedRepo")
                self.send_header("X-Error-Message", "Access to this repo is restricted.")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            # As the real hub does for LFS files: a redirect to the CDN (another host name
            # here, so huggingface_hub stops and reports its Location), with the sha256 as
            # X-Linked-Etag and the size as X-Linked-Size.
            port = self.server.server_address[1]
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{port}/cdn/{SHA256}")
            self.send_header("X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567")
            self.send_header("X-Linked-Etag", f'"{SHA256}"')
            self.send_header("X-Linked-Size", str(len(hub.content)))
            self.send_header("ETag", '"not-the-file"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            hub.gets.append(dict(self.headers))
            if self.path != f"/cdn/{SHA256}":
                self.send_response(404)
                self.end_headers()
                return
            body = hub.served if hub.served is not None else hub.content
            start = 0
            rng = self.headers.get("Range")
            if rng:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            chunk = body[start:]
            if hub.cut_after is not None:
                self.wfile.write(chunk[: hub.cut_after])
                self.wfile.flush()
                hub.cut_after = None
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(chunk)

    return Handler


@pytest.fixture
def hub() -> Iterator[Hub]:
    state = Hub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "models"
    monkeypatch.setenv("AGENTSMALL_MODELS_DIR", str(directory))
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(_registry.PRESETS, PRESET.name, _registry._entry(PRESET))
    return directory


def _part(preset: Preset = PRESET) -> Path:
    target = cached_path(preset)
    return target.with_name(target.name + ".part")


def test_pull_downloads_verifies_and_caches(hub: Hub, models_dir: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    result = pull(PRESET, endpoint=hub.url, progress=lambda done, total: seen.append((done, total)))
    assert result.path == models_dir / PRESET.name / FILENAME
    assert result.path.read_bytes() == CONTENT
    assert (result.verified, result.sha256, result.resumed_from) == ("sha256", SHA256, 0)
    assert seen[-1] == (len(CONTENT), len(CONTENT)) and len(seen) > 2
    assert not _part().exists()
    assert "authorization" not in {k.lower() for k in hub.gets[0]}
    # pulled once: the next pull and every run use the cached file, with no request at all
    again = pull(PRESET, endpoint=hub.url)
    assert again.verified == "cached" and (hub.heads, len(hub.gets)) == (1, 1)
    assert _registry.resolve_model_path(PRESET.name) == (PRESET.name, result.path)


def test_interrupted_download_resumes_where_it_stopped(hub: Hub) -> None:
    hub.cut_after = 1_000_000
    with pytest.raises(ModelDownloadError, match="run the same pull again to resume"):
        pull(PRESET, endpoint=hub.url)
    kept = _part().stat().st_size
    assert 0 < kept < len(CONTENT)
    assert not cached_path(PRESET).exists()  # never a partial file under the real name

    result = pull(PRESET, endpoint=hub.url)
    assert hub.gets[-1]["Range"] == f"bytes={kept}-"
    assert result.resumed_from == kept
    assert result.downloaded == len(CONTENT) - kept
    assert result.verified == "sha256"
    assert cached_path(PRESET).read_bytes() == CONTENT
    assert not _part().exists()


def test_checksum_mismatch_is_refused_and_nothing_is_kept(hub: Hub) -> None:
    corrupted = bytearray(CONTENT)
    corrupted[len(corrupted) // 2] ^= 0xFF
    hub.served = bytes(corrupted)
    with pytest.raises(ModelDownloadError, match="does not match its sha256"):
        pull(PRESET, endpoint=hub.url)
    assert not cached_path(PRESET).exists()
    assert not _part().exists()
    assert list(cached_path(PRESET).parent.iterdir()) == []


def test_a_sha256_in_the_preset_wins_over_the_hub(hub: Hub) -> None:
    pinned = replace(PRESET, sha256="0" * 64)
    with pytest.raises(ModelDownloadError, match="expected 0000"):
        pull(pinned, endpoint=hub.url)
    assert not cached_path(pinned).exists()


def test_hf_hub_offline_fails_at_once_without_contacting_the_hub(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelDownloadError, match="HF_HUB_OFFLINE") as info:
        pull(PRESET, endpoint=hub.url)
    assert "--model PATH" in str(info.value) and str(cached_path(PRESET)) in str(info.value)
    assert hub.heads == 0


def test_unreachable_hub_fails_fast_with_advice() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(ModelDownloadError, match="cannot reach the model hub") as info:
        pull(PRESET, endpoint=f"http://127.0.0.1:{port}")
    assert time.monotonic() - start < 5
    assert f"https://huggingface.co/{REPO_ID}" in str(info.value)


def test_gated_repo_says_to_accept_the_license(hub: Hub) -> None:
    hub.gated = True
    with pytest.raises(ModelDownloadError, match="gated: accept the Test License"):
        pull(PRESET, endpoint=hub.url)


def test_embedded_presets_have_nothing_to_pull() -> None:
    with pytest.raises(ModelDownloadError, match="embedded"):
        pull(_registry.PRESETS["smollm2-135m"].preset)


# -- through the command line ------------------------------------------------------------------


def test_cli_pull_json(hub: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "pull", PRESET.name, "--endpoint", hub.url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verified"] == "sha256" and report["size"] == len(CONTENT)
    assert Path(report["path"]).read_bytes() == CONTENT


def test_cli_pull_offline_is_one_clean_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    code = main(["models", "pull", "qwen3-0.6b"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert time.monotonic() - start < 5
    assert "Traceback" not in captured.err
    assert "error:" in captured.err and "--model" in captured.err
