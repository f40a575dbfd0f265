"""Users, sessions and tokens of the sandbox (HS256 JSON web tokens, EMX2's messages)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path

from emx2tui.sandbox.errors import SandboxError
from emx2tui.sandbox.store import Store

ANONYMOUS = "anonymous"
TEMPORARY_SECONDS = 30 * 60
LONG_SECONDS = 100 * 365 * 24 * 3600
# Anonymous users may view these schemas (EMX2's catalogue set-up grants this).
ANONYMOUS_VIEW = ("CatalogueOntologies",)
# EMX2's system roles, weakest first; each includes the rights of the ones before it.
SYSTEM_ROLES = ("Exists", "Range", "Aggregator", "Count", "Viewer", "Editor", "Manager", "Owner")


def _ms() -> int:
    return int(time.time() * 1000)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Auth:
    def __init__(self, store: Store, admin_password: str = "admin",
                 secret_file: Path | None = None) -> None:
        self.store = store
        self.users: dict[str, str] = {"admin": admin_password}
        self.sessions: dict[str, dict] = {}
        self.named_tokens: set[tuple[str, str]] = set()
        self.members: dict[str, dict[str, str]] = {}  # schema -> user -> system role
        self.tokens_valid_from = 0  # tokens issued up to this moment (ms) are expired
        if secret_file is not None and secret_file.exists():
            self.secret = secret_file.read_bytes()
        else:
            self.secret = secrets.token_bytes(32)
            if secret_file is not None:
                secret_file.parent.mkdir(parents=True, exist_ok=True)
                secret_file.write_bytes(self.secret)
                secret_file.chmod(0o600)

    # ------------------------------------------------------------------ tokens
    def _sign(self, payload: dict) -> str:
        head = _b64(json.dumps({"alg": "HS256"}).encode())
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        sig = hmac.new(self.secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(sig)}"

    def temporary_token(self, user: str) -> str:
        now = int(time.time())
        return self._sign({"sub": user, "jti": "temporary", "iat": now, "exp": now + TEMPORARY_SECONDS,
                           "ims": _ms()})

    def verify(self, token: str) -> str:
        """The user a token belongs to. 400 `Cannot parse token` when it is not a JWT at all
        (EMX2's JWTgenerator wraps every parse error so), `Invalid token or token expired` when
        its signature, expiry, user or name does not hold."""
        try:
            head, body, sig = token.strip().split(".")
            signature = _unb64(sig)
            payload = json.loads(_unb64(body))
            json.loads(_unb64(head))
            if not isinstance(payload, dict):
                raise ValueError("claims")
        except Exception:  # noqa: BLE001 - any malformed token gets the same answer
            raise SandboxError("Cannot parse token") from None
        want = hmac.new(self.secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(want, signature):
            raise SandboxError("Invalid token or token expired")
        user = payload.get("sub")
        if (payload.get("exp", 0) < time.time() or user not in self.users
                or payload.get("ims", 0) <= self.tokens_valid_from):
            raise SandboxError("Invalid token or token expired")
        jti = payload.get("jti")
        if jti != "temporary" and (user, jti) not in self.named_tokens:
            raise SandboxError("Invalid token or token expired")
        return user

    def expire_all_tokens(self) -> None:
        """Every token issued up to now stops working (as if its expiry had passed)."""
        self.tokens_valid_from = _ms()
        time.sleep(0.002)  # a token minted right after this must not share the millisecond

    # ------------------------------------------------------------------ sessions
    def session_user(self, sid: str | None) -> str | None:
        if not sid:
            return None
        s = self.sessions.get(sid)
        if s is None or s["seen"] + TEMPORARY_SECONDS < time.time():
            self.sessions.pop(sid or "", None)
            return None
        s["seen"] = time.time()
        return s["user"]

    def signin(self, ctx, email: str | None, password: str | None) -> dict:
        if email in self.users and self.users[email] == password:
            sid = secrets.token_urlsafe(24)
            self.sessions[sid] = {"user": email, "seen": time.time()}
            ctx.new_session = sid
            return {"status": "SUCCESS", "message": f"Signed in as '{email}'",
                    "token": self.temporary_token(email)}
        return {"status": "FAILED", "message": f"Sign in as '{email}' failed: user or password unknown",
                "token": None}

    def signup(self, email: str | None, password: str | None) -> dict:
        if not email or email in self.users or email == ANONYMOUS:
            return {"status": "FAILED", "message": f"User with name '{email}' already exists"}
        if not password or len(password) < 8:
            return {"status": "FAILED", "message": "Password too short"}
        self.users[email] = password
        return {"status": "SUCCESS", "message": f"User '{email}' added"}

    def signout(self, ctx) -> dict:
        if ctx.session:
            self.sessions.pop(ctx.session, None)
        ctx.end_session = True
        return {"status": "SUCCESS", "message": f"User '{ctx.user}' has signed out"}

    def create_token(self, ctx, email: str | None, name: str | None) -> dict:
        email = email or ctx.user
        if email != ctx.user and ctx.user != "admin":
            raise SandboxError("Create token failed: Only admins can create tokens for other users")
        if email not in self.users:
            raise SandboxError(f"Create token failed: user '{email}' unknown")
        name = name or "token"
        self.named_tokens.add((email, name))
        now = int(time.time())
        token = self._sign({"sub": email, "jti": name, "iat": now, "exp": now + LONG_SECONDS,
                            "ims": _ms()})
        return {"status": "SUCCESS", "message": f"Token '{name}' created for user '{email}'",
                "token": token}

    # ------------------------------------------------------------------ permissions
    def roles(self, user: str, schema: str) -> list[str]:
        """The roles a user holds on a schema, weakest first (a role includes the weaker ones)."""
        if user == "admin":
            return list(SYSTEM_ROLES[4:])
        members = self.members.get(schema, {})
        granted = [members.get(user), members.get(ANONYMOUS)]
        if user != ANONYMOUS:
            granted.append(members.get("user"))  # EMX2's pseudo-member for every signed-in user
        if schema in ANONYMOUS_VIEW:
            granted.append("Viewer")
        levels = [SYSTEM_ROLES.index(r) for r in granted if r in SYSTEM_ROLES]
        if not levels:
            return []
        top = max(levels)
        return [r for r in SYSTEM_ROLES[4:top + 1]] or [SYSTEM_ROLES[top]]

    def can_view(self, user: str, schema: str) -> bool:
        return self.store.has_schema(schema) and "Viewer" in self.roles(user, schema)

    def can_edit(self, user: str, schema: str) -> bool:
        return "Editor" in self.roles(user, schema)

    def is_manager(self, user: str, schema: str) -> bool:
        return "Manager" in self.roles(user, schema)

    def visible_schemas(self, user: str) -> list[str]:
        return [s for s in self.store.schema_names() if self.roles(user, s)]

    # ------------------------------------------------------------------ members
    def set_member(self, schema: str, user: str, role: str) -> None:
        if role not in SYSTEM_ROLES:
            raise SandboxError(f"Add member(s) failed: Role {role} doesn't exist in schema {schema}")
        if not user:
            raise SandboxError("Add member(s) failed: user name missing")
        self.members.setdefault(schema, {})[user] = role

    def remove_member(self, schema: str, user: str) -> None:
        self.members.get(schema, {}).pop(user, None)

    def member_list(self, schema: str) -> list[dict]:
        return [{"email": u, "role": r} for u, r in sorted(self.members.get(schema, {}).items())]

    def add_user(self, name: str, password: str) -> None:
        """Create (or reset) a user; for tests and `--user` style set-ups."""
        self.users[name] = password
