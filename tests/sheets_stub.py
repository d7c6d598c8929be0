"""A local stand-in for Google: the OAuth token endpoint of a service account (the JWT-bearer
grant, its RS256 signature checked with the test key's public key) and the Sheets API v4
``spreadsheets.values`` endpoints (get, update, append, batchUpdate), following the documented
requests and answers (../shared/reference/google-sheets.md). Written from the documentation,
independently of booking/sheets_client.py. Spreadsheets live in memory; a spreadsheet not
shared with the service account answers 403, an unknown one 404, an unknown tab 400 "Unable to
parse range" (as Google does). Fails on demand: queued HTTP errors for the next API requests,
optionally after applying them (the answer is lost)."""
from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, unquote, urlparse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SCOPE = "https://www.googleapis.com/auth/spreadsheets"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # the documented "aud"
CLIENT_EMAIL = "booking-sync@test-project.iam.gserviceaccount.com"
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
           404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_CELLS = re.compile(r"^([A-Z]*)(\d*)(?::([A-Z]*)(\d*))?$")


def throwaway_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key for one test run."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_info(key: rsa.RSAPrivateKey, token_uri: str,
                         client_email: str = CLIENT_EMAIL) -> dict[str, Any]:
    """A service-account JSON key as Google issues it, whose ``token_uri`` is the stand-in's."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"type": "service_account", "project_id": "test-project",
            "private_key_id": "k" + secrets.token_hex(8), "private_key": pem,
            "client_email": client_email, "client_id": "1000000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri}


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _column_letters(n: int) -> str:
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


@dataclass
class Spreadsheet:
    """Tabs by name, each a list of rows (lists of cell values); ``shared``: with the account."""

    tabs: dict[str, list[list[Any]]] = field(default_factory=dict)
    shared: bool = True


class ApiError(Exception):
    """An answer in Google's error format."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class SheetsStub:
    """``spreadsheets`` by id; ``calls``: (method, path, query) of every API request (not the
    token endpoint); ``token_grants``: tokens issued; ``fail_next(...)``: queued failures."""

    def __init__(self, public_key: rsa.RSAPublicKey, client_email: str = CLIENT_EMAIL) -> None:
        self.public_key, self.client_email = public_key, client_email
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.calls: list[tuple[str, str, dict[str, list[str]]]] = []
        self.token_grants = 0
        self.granted_scopes: list[str] = []  # the scope claim of each assertion accepted
        self.tokens: set[str] = set()
        self._failures: list[tuple[int, bool, str]] = []
        self._lock = threading.RLock()  # wait_until's predicate reads under it
        self._changed = threading.Condition(self._lock)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once

            def do_GET(self) -> None:  # noqa: N802
                stub._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                stub._handle(self, "POST")

            def do_PUT(self) -> None:  # noqa: N802
                stub._handle(self, "PUT")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.token_uri = f"{self.url}/token"

    # ------------------------------------------------------------------ test controls
    def add_spreadsheet(self, spreadsheet_id: str, tabs: tuple[str, ...] = ("Bookings",),
                        shared: bool = True) -> Spreadsheet:
        """A spreadsheet with empty tabs (``shared``: with the service account)."""
        with self._lock:
            sheet = self.spreadsheets[spreadsheet_id] = Spreadsheet({t: [] for t in tabs}, shared)
            return sheet

    def share(self, spreadsheet_id: str) -> None:
        """The owner shares the spreadsheet with the service account."""
        with self._lock:
            self.spreadsheets[spreadsheet_id].shared = True

    def rows(self, spreadsheet_id: str, tab: str = "Bookings") -> list[list[Any]]:
        """A copy of a tab's rows, trailing blanks trimmed."""
        with self._lock:
            return [list(r) for r in self._trimmed(self.spreadsheets[spreadsheet_id].tabs[tab])]

    def wait_until(self, predicate: Any, timeout: float = 15.0) -> bool:
        """Block until ``predicate(stub)`` holds after some request (False after ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def fail_next(self, status: int, times: int = 1, applied: bool = False,
                  on: str = "") -> None:
        """Answer ``status`` to the next ``times`` API requests whose path contains ``on``
        (e.g. ":append"; any request when empty); ``applied``: after doing them."""
        with self._lock:
            self._failures.extend([(status, applied, on)] * times)

    def revoke_tokens(self) -> None:
        """Every access token issued so far stops working (as an expired one does)."""
        with self._lock:
            self.tokens.clear()

    def writes(self) -> list[tuple[str, str]]:
        """(method, path) of the API requests that write."""
        with self._lock:
            return [(m, p) for m, p, _ in self.calls if m in ("PUT", "POST")]

    def close(self) -> None:
        """Stop listening."""
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ HTTP
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        parsed = urlparse(handler.path)
        query = parse_qs(parsed.query)
        try:
            if method == "POST" and parsed.path == "/token":
                return self._answer(handler, 200, self._token(raw))
            with self._changed:
                self.calls.append((method, parsed.path, query))
                self._changed.notify_all()
            self._authorised(handler.headers.get("authorization") or "")
            with self._changed:
                failure = next((f for f in self._failures if f[2] in parsed.path), None)
                if failure:
                    self._failures.remove(failure)
                if failure and not failure[1]:
                    raise ApiError(failure[0], "stub failure")
                payload = self._route(method, parsed.path, query,
                                      json.loads(raw) if raw else {})
                self._changed.notify_all()
            if failure:
                raise ApiError(failure[0], "stub failure after applying the request")
            self._answer(handler, 200, payload)
        except ApiError as exc:
            if parsed.path == "/token":
                return self._answer(handler, exc.status, {"error": "invalid_grant",
                                                          "error_description": exc.message})
            self._answer(handler, exc.status, {"error": {
                "code": exc.status, "message": exc.message,
                "status": _STATUS.get(exc.status, "UNKNOWN")}})
        except ValueError:
            self._answer(handler, 400, {"error": {"code": 400, "message": "Invalid JSON payload",
                                                  "status": "INVALID_ARGUMENT"}})

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json; charset=UTF-8")
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _token(self, raw: bytes) -> dict[str, Any]:
        """The JWT-bearer grant: a signed assertion from the service account → a bearer token."""
        form = parse_qs(raw.decode())
        if form.get("grant_type") != [JWT_BEARER] or len(form.get("assertion", [])) != 1:
            raise ApiError(400, "unsupported grant or no assertion")
        head, body, signature = (form["assertion"][0].split(".") + ["", ""])[:3]
        if json.loads(_b64(head)).get("alg") != "RS256":
            raise ApiError(400, "the assertion is not RS256")
        try:
            self.public_key.verify(_b64(signature), f"{head}.{body}".encode(),
                                   padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise ApiError(400, "Invalid JWT Signature.") from None
        claims = json.loads(_b64(body))
        now = time.time()
        audiences = (GOOGLE_TOKEN_AUDIENCE, self.token_uri)
        if (claims.get("iss") != self.client_email or claims.get("aud") not in audiences
                or SCOPE not in str(claims.get("scope", "")).split()
                or not claims.get("iat", now + 600) - 300 <= now < claims.get("exp", 0)):
            raise ApiError(400, "Invalid JWT: issuer, audience, scope or time")
        token = "ya29.stub-" + secrets.token_urlsafe(16)
        with self._lock:
            self.tokens.add(token)
            self.token_grants += 1
            self.granted_scopes.append(str(claims["scope"]))
        return {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def _authorised(self, header: str) -> None:
        scheme, _, token = header.partition(" ")
        with self._lock:
            if scheme.lower() != "bearer" or token not in self.tokens:
                raise ApiError(401, "Request had invalid authentication credentials.")

    def _route(self, method: str, path: str, query: dict[str, list[str]],
               body: dict[str, Any]) -> dict[str, Any]:
        parts = path.split("/")  # raw: a range's "/" arrives as %2F
        if len(parts) < 4 or parts[:3] != ["", "v4", "spreadsheets"]:
            raise ApiError(404, "Not Found")
        spreadsheet_id = unquote(parts[3])
        book = self.spreadsheets.get(spreadsheet_id)
        if book is None:
            raise ApiError(404, "Requested entity was not found.")
        if not book.shared:
            raise ApiError(403, "The caller does not have permission")
        rest = parts[4:]
        if method == "POST" and rest == ["values:batchUpdate"]:
            return self._batch_update(spreadsheet_id, book, body)
        if len(rest) != 2 or rest[0] != "values":
            raise ApiError(404, "Not Found")
        if method == "POST" and rest[1].endswith(":append"):
            return self._append(spreadsheet_id, book, unquote(rest[1][:-len(":append")]),
                                query, body)
        a1 = unquote(rest[1])
        if method == "GET":
            return self._get(book, a1, query)
        if method == "PUT":
            option = self._input_option(query.get("valueInputOption", [""])[0])
            result = self._write(book, a1, body.get("values") or [], option)
            return {"spreadsheetId": spreadsheet_id, **result}
        raise ApiError(404, "Not Found")

    # ------------------------------------------------------------------ values
    @staticmethod
    def _input_option(option: str) -> str:
        if option not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, "Invalid valueInputOption: it is required (RAW or USER_ENTERED)")
        return option

    @staticmethod
    def _parse(book: Spreadsheet, a1: str) -> tuple[str, int, int, Optional[int], Optional[int]]:
        """Tab, first column, first row, last column, last row (None: unbounded) of a range."""
        if a1.startswith("'"):  # 'Tab name'!A1:B2, a quote inside doubled
            i, name = 1, []
            while i < len(a1) and not (a1[i] == "'" and a1[i + 1:i + 2] != "'"):
                name.append(a1[i])
                i += 2 if a1[i] == "'" else 1
            rest = a1[i + 1:]
            if i >= len(a1) or (rest and not rest.startswith("!")):
                raise ApiError(400, f"Unable to parse range: {a1}")
            tab, cells = "".join(name), rest[1:]
        else:
            tab, _, cells = a1.partition("!")
        match = _CELLS.match(cells)
        if tab not in book.tabs or match is None:
            raise ApiError(400, f"Unable to parse range: {a1}")
        c1, r1, c2, r2 = match.groups()  # one cell ("A1"): the anchor of what is written
        return (tab, _column_number(c1) if c1 else 1, int(r1) if r1 else 1,
                _column_number(c2) if c2 else None, int(r2) if r2 else None)

    @staticmethod
    def _trimmed(rows: list[list[Any]]) -> list[list[Any]]:
        out = [list(r) for r in rows]
        for row in out:
            while row and row[-1] in ("", None):
                row.pop()
        while out and not out[-1]:
            out.pop()
        return out

    @staticmethod
    def _stored(value: Any, option: str) -> Any:
        if option == "USER_ENTERED" and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            return int(value)
        return value

    def _write(self, book: Spreadsheet, a1: str, values: list[list[Any]],
               option: str) -> dict[str, Any]:
        tab, c1, r1, c2, r2 = self._parse(book, a1)
        height, width = len(values), max((len(r) for r in values), default=0)
        if (r2 is not None and r1 + height - 1 > r2) or (c2 is not None and c1 + width - 1 > c2):
            raise ApiError(400, f"Requested writing within range [{a1}], but tried writing "
                                f"{height} rows and {width} columns")
        grid = book.tabs[tab]
        for i, row in enumerate(values):
            while len(grid) < r1 + i:
                grid.append([])
            target = grid[r1 + i - 1]
            for j, value in enumerate(row):
                while len(target) < c1 + j:
                    target.append("")
                target[c1 + j - 1] = self._stored(value, option)
        last_column = _column_letters(c1 + max(width, 1) - 1)
        return {"updatedRange": f"{tab}!{_column_letters(c1)}{r1}:{last_column}"
                                f"{r1 + max(height, 1) - 1}",
                "updatedRows": height, "updatedColumns": width,
                "updatedCells": sum(len(r) for r in values)}

    def _get(self, book: Spreadsheet, a1: str, query: dict[str, list[str]]) -> dict[str, Any]:
        tab, c1, r1, c2, r2 = self._parse(book, a1)
        grid = book.tabs[tab]
        last_row = r2 or max(len(grid), 1000)
        window = [(row[c1 - 1:c2] if c2 else row[c1 - 1:])
                  for row in grid[r1 - 1:last_row]]
        formatted = query.get("valueRenderOption", ["FORMATTED_VALUE"])[0] == "FORMATTED_VALUE"
        values = [[(str(v).upper() if isinstance(v, bool) else str(v)) if formatted else v
                   for v in row] for row in self._trimmed(window)]
        answer: dict[str, Any] = {
            "range": f"{tab}!{_column_letters(c1)}{r1}:{_column_letters(c2 or 26)}{last_row}",
            "majorDimension": "ROWS"}
        if values:
            answer["values"] = values
        return answer

    def _append(self, spreadsheet_id: str, book: Spreadsheet, a1: str,
                query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        option = self._input_option(query.get("valueInputOption", [""])[0])
        tab, c1, r1, _, _ = self._parse(book, a1)
        if query.get("insertDataOption", ["OVERWRITE"])[0] not in ("OVERWRITE", "INSERT_ROWS"):
            raise ApiError(400, "Invalid insertDataOption")
        used = len(self._trimmed(book.tabs[tab]))
        start = max(used + 1, r1)
        table = f"{tab}!A{r1}:Z{used}" if used >= r1 else None
        target = "'" + tab.replace("'", "''") + f"'!{_column_letters(c1)}{start}"
        updates = {"spreadsheetId": spreadsheet_id,
                   **self._write(book, target, body.get("values") or [], option)}
        answer = {"spreadsheetId": spreadsheet_id, "updates": updates}
        if table:
            answer["tableRange"] = table
        return answer

    def _batch_update(self, spreadsheet_id: str, book: Spreadsheet,
                      body: dict[str, Any]) -> dict[str, Any]:
        option = self._input_option(body.get("valueInputOption", ""))
        data = body.get("data") or []
        for part in data:  # all or nothing: every range is checked before anything is written
            tab, c1, r1, c2, r2 = self._parse(book, part.get("range", ""))
            values = part.get("values") or []
            width = max((len(r) for r in values), default=0)
            if (r2 is not None and r1 + len(values) - 1 > r2) or (
                    c2 is not None and c1 + width - 1 > c2):
                raise ApiError(400, f"Requested writing within range [{part['range']}], but "
                                    f"tried writing more")
        responses = [{"spreadsheetId": spreadsheet_id,
                      **self._write(book, part["range"], part.get("values") or [], option)}
                     for part in data]
        return {"spreadsheetId": spreadsheet_id, "totalUpdatedRows": sum(
                    r["updatedRows"] for r in responses),
                "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
                "totalUpdatedSheets": len({r["updatedRange"].split("!")[0] for r in responses}),
                "responses": responses}
