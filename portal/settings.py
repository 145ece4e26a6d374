"""Settings, one small class per concern, read from the environment (and `.env`).

Nothing here is built at import time: `create_app(settings)` and the command line build a
`Settings` once and pass it down.
"""

from __future__ import annotations

import os
import re
import stat
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["DatabaseSettings", "PortalSettings", "TileSettings", "OgcSettings", "MapSettings", "SurveySettings",
           "SecuritySettings", "AccountSettings", "AuditSettings", "ArchiveSettings", "Settings", "project_root",
           "DEFAULT_OFFICE_TIMEZONE", "KEY_MIN_BYTES", "KEY_FORMAT", "key_problem", "refusal",
           "SEAL_KEY_FORMAT", "seal_key_problem",
           "KEY_FILE_MAX_BYTES", "KeyFileUnreadable", "read_key_file", "read_key_text"]


def project_root() -> Path:
    """The checkout the package runs from (where pyproject.toml is), else the working directory.

    The managed PostgreSQL cluster keeps its data inside the project, so the same checkout
    always finds the same cluster whatever directory a command is started from.
    """
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").exists():
        return here
    return Path.cwd()


# The format of every secret key the app reads from a setting or a `<state_dir>/*.key` file (the
# identity digest key, the identity seal key, the sheet references' key; docs/security.md): at
# least 32 random bytes, written either as an even number of hex digits (nothing else: no `0x`, no
# spaces) or as base64 (standard or URL-safe, with no padding or the right padding); a key of one
# character repeated (64 zeros) is refused, it has no randomness. The keys the app makes itself are
# 64 hex digits (32 random bytes). The digest and sheet keys are used exactly as written (their
# text's UTF-8 is the HMAC key, so keys in use keep their digests): a setting with spaces or a line
# break around it is refused rather than silently changed (a key file is read without its
# surrounding whitespace, its final newline). The format only refuses keys too short or mistyped
# to be secret: `CADASTRE_SHEET_KEY=zz` made every sheet reference's MAC a guess under a 2-byte
# key. The seal key is exactly 64 hex digits (AES-256).
KEY_MIN_BYTES = 32
KEY_FORMAT = f"give at least {KEY_MIN_BYTES} random bytes as {2 * KEY_MIN_BYTES}+ hex digits or as base64"
SEAL_KEY_FORMAT = "give 64 hex digits (32 random bytes)"
_HEX = re.compile(r"[0-9A-Fa-f]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+={0,2}")


def key_problem(text: str) -> str | None:
    """What is wrong with a secret key's text (see KEY_FORMAT), as the end of a sentence naming
    the key ("is empty", "has 2 bytes: give ..."), or None for a key in the format. The text is
    taken exactly: spaces or line breaks around it are a problem (callers reading a key file
    strip its text first). Raises nothing."""
    key = text.strip()
    if not key:
        return f"is empty: {KEY_FORMAT}"
    if key != text:
        return "has spaces or line breaks around it: remove them (a key is used exactly as written)"
    if _HEX.fullmatch(key):
        if len(key) % 2:
            return f"has an odd number of hex digits ({len(key)}): {KEY_FORMAT}"
        size = len(key) // 2
    elif key[:2] in ("0x", "0X") and _HEX.fullmatch(key[2:]):
        return f"starts with 0x: write the hex digits alone; {KEY_FORMAT}"
    elif _BASE64.fullmatch(key):
        digits = key.rstrip("=")
        padding, rest = len(key) - len(digits), len(digits) % 4
        if rest == 1 or (padding and padding != 4 - rest):
            return f"is not valid base64 (its length or its = padding is wrong): {KEY_FORMAT}"
        size = len(digits) * 3 // 4
    else:
        return f"is neither hex digits nor base64 (spaces or other characters in it): {KEY_FORMAT}"
    if size < KEY_MIN_BYTES:
        return f"has {size} byte{'s' if size != 1 else ''}: {KEY_FORMAT}"
    if len(set(key.rstrip("="))) == 1:
        return f"is one character repeated, no random key: {KEY_FORMAT}"
    return None


def seal_key_problem(text: str) -> str | None:
    """What is wrong with the identity seal key's text (exactly 64 hex digits, SEAL_KEY_FORMAT;
    surrounding whitespace is ignored, since the key is the bytes they spell), as the end of a
    sentence naming it, or None. Raises nothing."""
    key = text.strip()
    if not _HEX.fullmatch(key):
        return f"is not hexadecimal (only 0-9 and a-f, no spaces nor 0x): {SEAL_KEY_FORMAT}"
    if len(key) != 64:
        return (f"has {len(key) // 2} bytes: {SEAL_KEY_FORMAT}" if len(key) % 2 == 0
                else f"has an odd number of hex digits ({len(key)}): {SEAL_KEY_FORMAT}")
    if len(set(key)) == 1:
        return f"is one character repeated, no random key: {SEAL_KEY_FORMAT}"
    return None


# The largest key file read: a key is 64 hex digits, a PEM Ed25519 key about 120 bytes.
KEY_FILE_MAX_BYTES = 16384


class KeyFileUnreadable(ValueError):
    """A key file that is not a regular file, cannot be opened or read, is too large or is not
    UTF-8 text: the message is one line naming the file and what to do."""


def read_key_file(path: Path) -> bytes:
    """The bytes of the key file `path` (a `<state_dir>/*.key` file or the audit signing key),
    checked to be a regular file before a byte is read: opened without blocking and checked on
    the opened descriptor, so a FIFO put in its place cannot hang the start, nor a directory
    give a traceback. Raises KeyFileUnreadable (one line naming the file) when it is missing,
    not a regular file, unreadable (permissions) or larger than KEY_FILE_MAX_BYTES."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise KeyFileUnreadable(f"key file {path} cannot be opened ({error.strerror}): make it a file readable "
                                "by the account running the portal, mode 0600") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileUnreadable(f"key file {path} is not a regular file (a directory, FIFO, socket or device): "
                                    "put the key in a plain file, mode 0600")
        if info.st_size > KEY_FILE_MAX_BYTES:
            raise KeyFileUnreadable(f"key file {path} has {info.st_size} bytes, more than a key "
                                    f"({KEY_FILE_MAX_BYTES} at most): is it the right file?")
        chunks: list[bytes] = []
        while chunk := os.read(fd, KEY_FILE_MAX_BYTES + 1 - sum(map(len, chunks))):
            chunks.append(chunk)
            if sum(map(len, chunks)) > KEY_FILE_MAX_BYTES:
                raise KeyFileUnreadable(f"key file {path} grew beyond {KEY_FILE_MAX_BYTES} bytes while read")
    except OSError as error:
        raise KeyFileUnreadable(f"key file {path} cannot be read ({error.strerror})") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_key_text(path: Path) -> str:
    """The text of the key file `path` (`read_key_file`), as written (callers strip it). Raises
    KeyFileUnreadable as `read_key_file` does, and when the file is not UTF-8 text."""
    try:
        return read_key_file(path).decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFileUnreadable(f"key file {path} is not text (not UTF-8): a key is hex digits or base64") from None


def refusal(error: ValidationError) -> str:
    """One line for settings `error` refused, naming each setting and what is wrong, never its
    value ("settings refused: CADASTRE_SHEET_KEY has 31 bytes: give ..."): what the `cadastre`
    commands and `portal.main` print instead of pydantic's multi-line report."""
    problems = []
    for problem in error.errors():
        message = " ".join(problem["msg"].removeprefix("Value error, ").split())
        if problem["type"] != "value_error":  # pydantic's own ("Input should be ..."): name the field
            message = f"{'.'.join(str(part) for part in problem['loc'])}: {message}"
        problems.append(message)
    return "settings refused: " + "; ".join(problems)


def _checked_key(name: str, value: str | None) -> str | None:
    if value is None:
        return value
    problem = key_problem(value)
    if problem:
        raise ValueError(f"{name} {problem}")
    return value


# Office time (portal.platform.clock): the zone the database's rules were written for.
DEFAULT_OFFICE_TIMEZONE = "Asia/Shanghai"

# The tile invalidation listener's one connection (layers.tiles.InvalidationListener).
LISTENER_CONNECTIONS = 1


class DatabaseSettings(BaseSettings):
    """Where the cadastre lives: `DATABASE_URL`, or a cluster this project manages itself."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    # The web app connects with DATABASE_URL (a least-privilege role: `cadastre audit
    # grant-app-role`); migrations and the admin command line with CADASTRE_ADMIN_DATABASE_URL
    # when set (the owner), else DATABASE_URL too. Neither set: the managed cluster, whose app
    # role is `cadastre_app` and whose superuser runs migrations.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    admin_database_url: str | None = Field(default=None, validation_alias="CADASTRE_ADMIN_DATABASE_URL")
    state_dir: Path = Field(
        default_factory=lambda: project_root() / ".cadastre", validation_alias="CADASTRE_STATE_DIR"
    )
    database_name: str = Field(default="cadastre", validation_alias="CADASTRE_DATABASE")
    replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list,
                                                         validation_alias="DATABASE_REPLICA_URLS")
    max_replica_lag_bytes: int = 16 * 1024 * 1024
    replica_check_seconds: float = 2.0
    pool_min_size: int = 2
    pool_max_size: int = 16
    pool_timeout: float = 5.0
    # A pooled connection is probed (one round trip) before use unless it came back to the
    # pool less than this many seconds ago; 0 probes every time.
    pool_check_idle_seconds: float = 1.0
    work_pool_size: int = 4
    # The connection budget of one app process on the primary (README, "Connections"): the app
    # pool (pool_max_size), the work pool, the OGC routes' pool, pygeoapi's provider pool and
    # the tile invalidation listener; each replica gets its own pool of replica_pool_max_size.
    ogc_pool_max_size: int = Field(default=16, ge=2)
    provider_pool_max_size: int = Field(default=8, ge=1)
    replica_pool_max_size: int = Field(default=16, ge=1)

    @model_validator(mode="after")
    def _pool_sizes(self) -> DatabaseSettings:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError(f"pool_min_size ({self.pool_min_size}) must not exceed pool_max_size "
                             f"({self.pool_max_size})")
        if self.admin_database_url and not self.database_url:
            raise ValueError("CADASTRE_ADMIN_DATABASE_URL is set but DATABASE_URL is not: set DATABASE_URL to the "
                             "app's least-privilege role on the same database")
        return self

    @property
    def connections_per_process(self) -> int:
        """The most connections one app process opens on the primary."""
        return (self.pool_max_size + self.work_pool_size + self.ogc_pool_max_size + self.provider_pool_max_size
                + LISTENER_CONNECTIONS)

    @field_validator("database_url", "admin_database_url")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("replica_urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def managed(self) -> bool:
        return self.database_url is None


class PortalSettings(BaseSettings):
    """The web application: where it listens and how it presents itself."""

    model_config = SettingsConfigDict(env_prefix="CADASTRE_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = 8000
    title: str = "Cadastre"
    public_url: str | None = None
    basemap_url: str | None = None
    # The key that authenticates parcel sheet references (HMAC-SHA256, portal.public.sheet_verify);
    # every app server must share it. Unset: a random key kept in `<state_dir>/sheet.key`. Either
    # is in KEY_FORMAT (32+ random bytes, hex or base64), else the app does not start.
    sheet_key: str | None = None

    @field_validator("sheet_key")
    @classmethod
    def _sheet_key_format(cls, value: str | None) -> str | None:
        """A key too short or mistyped to be secret is refused with the settings (KEY_FORMAT)."""
        return _checked_key("CADASTRE_SHEET_KEY", value)
    # Office time: every time a person reads is shown in this zone, and dates are cut in it
    # (portal.platform.clock). An IANA name.
    office_timezone: str = DEFAULT_OFFICE_TIMEZONE

    @property
    def base_url(self) -> str:
        """The portal's absolute address for links printed or sent elsewhere (sheets, certificates,
        QR codes): `public_url` when set, else the configured listening address; never a request's
        Host header, which the client chooses."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @field_validator("office_timezone")
    @classmethod
    def _real_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"office_timezone {value!r} is not an IANA time zone (for example Asia/Shanghai)") \
                from error
        return value


class TileSettings(BaseSettings):
    """Vector tiles: how much goes into one tile and how long it is kept."""

    model_config = SettingsConfigDict(env_prefix="CADASTRE_TILE_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    max_features: int = 20_000
    extent: int = 4096
    buffer: int = 64
    cache_size: int = 20_000
    # Recorded invalidations (tile_invalidations) older than this are deleted, checked every
    # invalidation_prune_seconds by each web process's listener.
    invalidation_keep_seconds: float = 3600.0
    invalidation_prune_seconds: float = 300.0

    @model_validator(mode="after")
    def _buffer_inside_extent(self) -> TileSettings:
        if not 0 <= self.buffer < self.extent:
            raise ValueError(f"the tile buffer ({self.buffer}) must be at least 0 and less than the tile extent "
                             f"({self.extent})")
        return self


class SurveySettings(BaseSettings):
    """Tolerances and limits of surveyors' uploads (`portal.surveys.cadastre_validation.validation_rules`
    turns them into `spatial.validation.ValidationRules`)."""

    model_config = SettingsConfigDict(env_prefix="CADASTRE_SURVEY_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    area_abs_tolerance_m2: float = 1.0
    area_rel_tolerance: float = 0.0
    boundary_point_error_m: float = 0.05
    overlap_tolerance_m2: float = 0.01
    gap_width_m: float = 0.05
    coverage_tolerance_m2: float = 1.0
    max_upload_bytes: int = 50 * 1024 * 1024
    # Reading one upload, in a worker process of its own (`spatial.readers.ReadLimits`): what an
    # archive may unpack to and hold, the parcels one upload may hold, and the processor time,
    # memory and wall time the worker may take. Each refusal names its limit.
    max_unpacked_bytes: int = 512 * 1024 * 1024
    max_archive_members: int = 1_000
    max_features: int = 200_000
    read_cpu_seconds: int = 120
    read_memory_bytes: int = 2 * 1024 * 1024 * 1024
    read_wall_seconds: int = 300
    # Uploads of one user being read at once (per app process); more are refused with 429.
    uploads_at_once_per_user: int = 2
    # Map tiles of scans (scan pixels and the warped overlay) one user may have being drawn at
    # once per app process (beyond it a request waits tile_wait_seconds, then 429 tiles_at_once), and the
    # tiles drawn at once by the whole process (its own threads, never the work pool's connections).
    tiles_at_once_per_user: int = Field(default=8, ge=1)
    tile_wait_seconds: float = Field(default=1.0, ge=0, le=30)
    tile_renders_at_once: int = Field(default=4, ge=1)
    # Issues of a validation report in one answer (API and page), unless the caller asks for
    # fewer; at most report_max_page_size when they ask for more (422 beyond it).
    report_page_size: int = Field(default=500, ge=1)
    report_max_page_size: int = Field(default=5_000, ge=1)
    # Digitising a scan: the residual a control point may have, on paper (0.5 mm is 0.25 m on a
    # 1:500 drawing), and how far (metres) a point clicked on the map snaps to a parcel corner.
    digitise_tolerance_paper_mm: float = Field(default=0.5, gt=0)
    digitise_snap_metres: float = Field(default=2.0, gt=0, le=100)

    @model_validator(mode="after")
    def _pages_fit(self) -> SurveySettings:
        if self.report_page_size > self.report_max_page_size:
            raise ValueError(f"report_page_size ({self.report_page_size}) must not exceed report_max_page_size "
                             f"({self.report_max_page_size})")
        return self


class SecuritySettings(BaseSettings):
    """Transport and request limits; HSTS only where the portal is really served over HTTPS.

    `trusted_proxies`: the reverse proxies (addresses or networks, comma-separated) whose
    `X-Forwarded-For` is believed (`portal.platform.requests.client_of`); empty, the default,
    believes none: the client is whoever connects.
    """

    model_config = SettingsConfigDict(env_prefix="CADASTRE_SECURITY_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    hsts_seconds: int = 0
    max_body_bytes: int = 51 * 1024 * 1024
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies_comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for proxy in value:
            try:
                ip_network(proxy, strict=False)
            except ValueError as error:
                raise ValueError(f"trusted_proxies: {proxy!r} is not an IP address or network") from error
        return value

    @property
    def trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(ip_network(proxy, strict=False) for proxy in self.trusted_proxies)


class AccountSettings(BaseSettings):
    """Accounts, sessions and the limits on restriction checks.

    `identity_key` keys the digest under which identity numbers are matched; every app server
    must share it. It is required with DATABASE_URL (`Settings` refuses to start without it); on
    the managed cluster, when unset, a random key is kept in `<state_dir>/identity.key`.
    `identity_seal_key` (64 hex digits) seals the register's full identity numbers (AES-256-GCM);
    when unset, a random key is kept in `<state_dir>/identity-seal.key`. Neither key is in the
    database nor in a backup: keep them with the backups, apart from them. The identity key is in
    KEY_FORMAT (at least 32 random bytes, hex digits or base64), else the app does not start.
    `cookie_secure` stays on except for plain-http local runs and tests.
    """

    model_config = SettingsConfigDict(env_prefix="CADASTRE_ACCOUNTS_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    identity_key: str | None = None
    identity_seal_key: str | None = None

    @field_validator("identity_key")
    @classmethod
    def _identity_key_format(cls, value: str | None) -> str | None:
        """A key too short or mistyped to be secret is refused with the settings (KEY_FORMAT)."""
        return _checked_key("CADASTRE_ACCOUNTS_IDENTITY_KEY", value)

    @field_validator("identity_seal_key")
    @classmethod
    def _seal_key_is_32_hex_bytes(cls, value: str | None) -> str | None:
        """A malformed seal key is refused with the settings (one line), never at first use."""
        if value is None:
            return value
        problem = seal_key_problem(value)
        if problem:
            raise ValueError(f"CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY {problem}")
        return value.strip()

    session_hours: float = 8.0
    # API tokens: `token_days` is the lifetime of a token exchanged for a password (POST
    # /api/tokens), a week so a forgotten token does not stay a key for a month;
    # `token_max_days` caps the lifetime a user may ask for (POST /api/me/tokens, the account page).
    token_days: float = Field(default=7.0, gt=0)
    token_max_days: int = Field(default=30, ge=1)
    # Password changes tried per account and day (each tries the current password).
    password_changes_per_day: int = 10
    cookie_secure: bool = True
    checks_per_day: int = 200
    checks_per_minute: int = 30
    # A registrar's reveals of full identity numbers (docs/security.md, "Identity numbers in the
    # register"): per minute and per day (past either: 429), and the day's count at which the
    # auditors are told (an audit row `identity_reveals_many`, once a day per registrar).
    reveals_per_minute: int = Field(default=10, ge=1)
    reveals_per_day: int = Field(default=100, ge=1)
    reveals_flagged_at: int = Field(default=30, ge=1)
    # Checks running at once in one app process; more wait their turn in the app (first come,
    # first served). Each check is one short statement: a few at once keep PostgreSQL busy, and
    # more only queue on the audit chain's lock and on the CPU (bench/checks.py: 16 at once per
    # process gave a p99 near three times that of 4 at 32 concurrent clients).
    checks_at_once: int = 4
    # Log-in attempts per window: `login_failures` per username and client address (the
    # strict limit, which a stranger cannot use to lock the owner out), and
    # `login_failures_per_username` from every address together (against guessing from many).
    login_failures: int = 5
    login_failures_per_username: int = 100
    login_window_minutes: int = 15
    # Online identity verification (issue 15 section 2; docs/security.md, "Identity verification"):
    # tries per account and day; failures per client address and day; failures per claimed
    # identity (the name with region and birth date, or the number), from every account and
    # address together, in a window of `verification_identity_window_days` from its first
    # failure. Past any of them online verification is refused: a registrar verifies at the counter.
    verification_attempts_per_day: int = Field(default=5, ge=1)
    verification_failures_per_client: int = Field(default=10, ge=1)
    verification_failures_per_identity: int = Field(default=5, ge=1)
    verification_identity_window_days: int = Field(default=30, ge=1)
    # Accounts made (sign-ups) per client address and day.
    sign_ups_per_client_per_day: int = Field(default=20, ge=1)
    # Machine clients (docs/security.md, "Machine clients"): the most calls a minute an
    # administrator may give one client, and the refused calls (no or a wrong token) per client
    # address and minute before 429 (only the first refusal and the first 429 of a minute are audited).
    machine_client_max_per_minute: int = Field(default=600, ge=1, le=100_000)
    machine_refusals_per_minute: int = Field(default=10, ge=1)
    password_time_cost: int = 2
    password_memory_kib: int = 19_456
    password_parallelism: int = 1

    @model_validator(mode="after")
    def _token_lifetime_within_cap(self) -> AccountSettings:
        if self.token_days > self.token_max_days:
            raise ValueError(f"token_days ({self.token_days}) must not exceed token_max_days ({self.token_max_days})")
        return self


class AuditSettings(BaseSettings):
    """Where the audit chain is anchored outside the database (portal/audit/anchors.py).

    `cadastre audit anchor` signs the chain head with the Ed25519 key in `signing_key_file` and
    appends the checkpoint to `anchor_file`; both default to the state directory. Keep them where
    the database's owner cannot write (another machine's mount, another OS account), and a copy of
    the public key (`cadastre audit public-key`) with the auditors.
    """

    model_config = SettingsConfigDict(env_prefix="CADASTRE_AUDIT_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    anchor_file: Path | None = None
    signing_key_file: Path | None = None

    def anchor_path(self, database: DatabaseSettings) -> Path:
        return self.anchor_file or Path(database.state_dir) / "audit-anchors.log"

    def signing_key_path(self, database: DatabaseSettings) -> Path:
        return self.signing_key_file or Path(database.state_dir) / "audit-signing.key"


class ArchiveSettings(BaseSettings):
    """The registration archive (`portal.archive`): where scans are kept, what one may cost.

    `store_dir` holds the files by SHA-256 (default: `archive/` in the state directory),
    `cache_dir` the rendered pages (default: `archive-cache/`; safe to delete). A file is refused
    beyond `max_file_bytes`, `max_pixels` pixels in one page (decompression bombs) or `max_pages`
    pages; reading and rendering run in a limited worker process, like survey uploads.
    """

    model_config = SettingsConfigDict(env_prefix="CADASTRE_ARCHIVE_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    store_dir: Path | None = None
    cache_dir: Path | None = None
    # Uploads also pass the request body limit (CADASTRE_SECURITY_MAX_BODY_BYTES): raise both together.
    max_file_bytes: int = 50 * 1024 * 1024
    # A 600 dpi A1 scan is about 14,000 x 10,000 = 140 million pixels.
    max_pixels: int = 200_000_000
    max_pages: int = 2_000
    # A rendered page is at most this many pixels on its longer side; thumbnails thumb_pixels.
    page_pixels: int = Field(default=2048, ge=64, le=8192)
    thumb_pixels: int = Field(default=256, ge=32, le=1024)
    cpu_seconds: int = 120
    memory_bytes: int = 3 * 1024 * 1024 * 1024
    wall_seconds: int = 300
    # Attaching, rendering and digitising count against the user's uploads at once
    # (CADASTRE_SURVEY_UPLOADS_AT_ONCE_PER_USER); a page render waits this long for a free one.
    render_wait_seconds: float = Field(default=10.0, ge=0, le=120)

    def store_path(self, database: DatabaseSettings) -> Path:
        return self.store_dir or Path(database.state_dir) / "archive"

    def cache_path(self, database: DatabaseSettings) -> Path:
        return self.cache_dir or Path(database.state_dir) / "archive-cache"


class MapSettings(BaseSettings):
    """The public map page: where its parcel tiles come from and when labels appear."""

    model_config = SettingsConfigDict(env_prefix="CADASTRE_MAP_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    # The OGC API tiles that layers/ publishes; a setting so a deployment can put a cache in front.
    parcel_tiles_url: str = "/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt"
    parcel_tiles_layer: str = "parcels"
    parcels_min_zoom: int = Field(default=14, ge=0, le=22)
    labels_min_zoom: int = Field(default=17, ge=0, le=22)
    max_labels: int = Field(default=600, ge=1, le=5000)
    max_zoom: int = Field(default=20, ge=1, le=22)

    @model_validator(mode="after")
    def _zoom_order(self) -> MapSettings:
        if not self.parcels_min_zoom <= self.labels_min_zoom <= self.max_zoom:
            raise ValueError(f"map zooms out of order: parcels_min_zoom ({self.parcels_min_zoom}) <= labels_min_zoom "
                             f"({self.labels_min_zoom}) <= max_zoom ({self.max_zoom}) must hold")
        return self


class OgcSettings(BaseSettings):
    """OGC API publishing: page sizes of feature requests."""

    model_config = SettingsConfigDict(env_prefix="CADASTRE_OGC_", env_file=".env", extra="ignore",
                                      hide_input_in_errors=True)

    default_limit: int = 10
    max_limit: int = 10_000
    # numberMatched is sent only when at most this many rows must be examined to count it
    # exactly (the rows a bbox selects, or the whole collection when it is that small).
    count_limit: int = 10_000
    # Origins whose pages may read the public OGC API and tiles (CORS), comma-separated;
    # "*" (the default) for public data. Routes outside /ogc never answer cross-origin.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins_comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _default_within_max(self) -> OgcSettings:
        if not 0 < self.default_limit <= self.max_limit:
            raise ValueError(f"the OGC default_limit ({self.default_limit}) must be between 1 and max_limit "
                             f"({self.max_limit})")
        return self


class Settings(BaseSettings):
    """Everything the application needs, grouped by concern. Every settings class hides the
    input in its errors (`hide_input_in_errors`): a refused key or URL is never printed, only
    the setting's name and what is wrong (`refusal`)."""

    model_config = SettingsConfigDict(hide_input_in_errors=True)

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    tiles: TileSettings = Field(default_factory=TileSettings)
    survey: SurveySettings = Field(default_factory=SurveySettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    accounts: AccountSettings = Field(default_factory=AccountSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    map: MapSettings = Field(default_factory=MapSettings)
    ogc: OgcSettings = Field(default_factory=OgcSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)

    @model_validator(mode="after")
    def _identity_key_outside_managed_cluster(self) -> Settings:
        """Outside the managed cluster every app server must share one key (no key file they
        could each make their own of): refuse to start without it."""
        if not self.database.managed and not self.accounts.identity_key:
            raise ValueError("DATABASE_URL is set but CADASTRE_ACCOUNTS_IDENTITY_KEY is not: set it to one secret "
                             "shared by every app server (identity numbers are matched under it)")
        return self
