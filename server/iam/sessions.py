"""`login`/`logout` and the sessions they open (JSESSIONID cookie + sessionkey parameter).

Sessions live in the database so every management server behind a balancer knows them; each server
keeps the ones it has seen in memory and writes `last_seen` at most once a minute.
"""

import datetime as dt
import secrets

from aiohttp import web
from sqlalchemy import delete, select

from ..core import auth
from ..core.db import now
from ..core.errors import AccountError, InvalidParameter, MethodNotAllowed
from ..core.passwords import check_password
from .models import ENABLED, LOCKED, Account, Domain, LoginSession, User

TOUCH_INTERVAL = dt.timedelta(seconds=60)


class Sessions:
    def __init__(self, server):
        self.server = server
        self.known: dict[str, auth.WebSession] = {}

    # ---- checking a session ------------------------------------------------------------------

    def caller(self, request: web.Request, lowered: dict[str, str]) -> auth.Principal | None:
        session_id = request.cookies.get("JSESSIONID")
        if not session_id:
            return None
        session = self.lookup(session_id)
        if session is None:
            return None
        with self.server.session() as db:
            locations = str(self.server.config.value(db, "api.sessionkey.check.locations")).lower()
            if not self.key_matches(session, lowered.get("sessionkey"), request.cookies.get("sessionkey"),
                                    locations):
                return None
            timeout = dt.timedelta(seconds=int(self.server.config.value(db, "session.timeout")))
            current = now()
            if current - session.last_seen > timeout:
                self.forget(db, session_id)
                db.commit()
                return None
            if current - session.last_seen > TOUCH_INTERVAL:
                db.get(LoginSession, session_id).last_seen = current
                db.commit()
                session.last_seen = current
            principal = auth.by_user_id(self.server, session.user_id, db)
        if principal is None or not principal.enabled:
            return None
        return principal

    @staticmethod
    def key_matches(session: auth.WebSession, parameter: str | None, cookie: str | None, locations: str) -> bool:
        """`api.sessionkey.check.locations`: Cookie, Parameter, CookieOrParameter, CookieAndParameter."""
        def ok(value):
            return value is not None and secrets.compare_digest(session.session_key, value)

        if locations == "cookieandparameter":
            return ok(parameter) and (cookie is None or ok(cookie))
        if locations == "cookie":
            return ok(cookie)
        if locations in ("parameter", "parameteronly"):
            return ok(parameter)
        return ok(parameter) or ok(cookie)

    def lookup(self, session_id: str) -> auth.WebSession | None:
        if session_id not in self.known:
            with self.server.session() as db:
                row = db.get(LoginSession, session_id)
                if row is None:
                    return None
                self.known[session_id] = auth.WebSession(row.session_id, row.session_key, row.user_id,
                                                         row.last_seen)
        return self.known[session_id]

    def forget(self, db, session_id: str) -> None:
        self.known.pop(session_id, None)
        db.execute(delete(LoginSession).where(LoginSession.session_id == session_id))

    # ---- the two commands --------------------------------------------------------------------

    async def handle(self, request: web.Request, name: str, lowered: dict, as_json: bool) -> web.Response:
        dispatcher = self.server.dispatcher
        response_name = name + "response"
        try:
            answer = self.login(request, lowered, as_json) if name == "login" else \
                self.logout(request, lowered, as_json)
            self.server.called[name] += 1
            return answer
        except (AccountError, InvalidParameter, MethodNotAllowed) as error:
            return dispatcher.error(response_name, error, as_json)

    def login(self, request: web.Request, lowered: dict, as_json: bool) -> web.Response:
        if request.method != "POST":
            raise MethodNotAllowed("Please use HTTP POST to authenticate using this API")
        username, password = lowered.get("username", ""), lowered.get("password", "")
        domain_arg = lowered.get("domainid") or lowered.get("domain") or "/"
        with self.server.session() as db:
            domain = self.find_domain(db, lowered)
            found = None
            if domain is not None and username:
                found = db.execute(select(User, Account).join(Account, User.account_id == Account.id).where(
                    User.username == username, Account.domain_id == domain.id,
                    User.removed.is_(None), Account.removed.is_(None))).first()
            failure = AccountError(f"Failed to authenticate user {username} in domain {domain_arg}; please "
                                   "provide valid credentials")
            if found is None:
                raise failure
            user, account = found
            if user.state != ENABLED or account.state != ENABLED:
                raise failure
            if not password or not check_password(password, user.password):
                self.count_failure(db, user)
                raise failure
            if user.incorrect_login_attempts:
                user.incorrect_login_attempts = 0
            session = LoginSession(session_id=secrets.token_hex(16),
                                   session_key=secrets.token_urlsafe(20), user_id=user.id)
            db.add(session)
            timeout = int(self.server.config.value(db, "session.timeout"))
            secure = bool(self.server.config.value(db, "enable.secure.session.cookie"))
            body = {
                "username": user.username, "userid": user.uuid, "domainid": domain.uuid,
                "timeout": timeout, "account": account.account_name, "firstname": user.firstname,
                "lastname": user.lastname, "type": str(account.type), "timezone": user.timezone,
                "timezoneoffset": "0.0" if user.timezone else None, "registered": "false",
                "sessionkey": session.session_key, "is2faenabled": "false", "is2faverified": "true",
                "managementserverid": self.server.ms_uuid if account.type == 1 else None,
            }
            db.commit()
        response = dispatcher_response(self.server, "loginresponse", body, as_json)
        response.set_cookie("JSESSIONID", session.session_id, path="/client", httponly=True, secure=secure)
        response.set_cookie("sessionkey", session.session_key, path="/client", httponly=True, samesite="Lax",
                            secure=secure)
        return response

    def count_failure(self, db, user: User) -> None:
        user.incorrect_login_attempts += 1
        allowed = int(self.server.config.value(db, "incorrect.login.attempts.allowed"))
        if user.incorrect_login_attempts >= allowed and user.state == ENABLED:
            user.state = LOCKED if allowed > 0 else user.state
            self.server.caches.bump(db, ["auth"])
        db.commit()
        self.server.caches.clear(["auth"])

    @staticmethod
    def find_domain(db, lowered: dict) -> Domain | None:
        if lowered.get("domainid"):
            return db.scalars(select(Domain).where(Domain.uuid == lowered["domainid"],
                                                   Domain.removed.is_(None))).first()
        path = lowered.get("domain") or "/"
        path = "/" + path.strip("/") + "/" if path.strip("/") else "/"
        if path.upper() == "/ROOT/":
            path = "/"
        return db.scalars(select(Domain).where(Domain.path == path, Domain.removed.is_(None))).first()

    def logout(self, request: web.Request, lowered: dict, as_json: bool) -> web.Response:
        session_id = request.cookies.get("JSESSIONID")
        with self.server.session() as db:
            if not session_id or db.get(LoginSession, session_id) is None:
                raise InvalidParameter("Session not found for the logout process.")
            self.forget(db, session_id)
            db.commit()
        response = dispatcher_response(self.server, "logoutresponse", {"description": "success"}, as_json)
        response.del_cookie("JSESSIONID", path="/client")
        response.del_cookie("sessionkey", path="/client")
        return response


def dispatcher_response(server, response_name: str, fields: dict, as_json: bool) -> web.Response:
    from ..core import render

    return server.dispatcher.respond(render.body(response_name, None, fields), as_json)

