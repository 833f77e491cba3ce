"""One HTTP request → one command: parse, authenticate, authorize, validate, run, render.

Everything a client can get wrong is answered here with CloudStack's error envelope; an unexpected
exception is logged with its traceback and answered as 530, never as a bare 500 page.
"""

import json
import logging
from typing import Any

from aiohttp import web
from sqlalchemy import bindparam, select

from . import auth, render, signing
from .context import Context, Params
from .db import prebuilt
from .errors import (
    INTERNAL_ERROR_TEXT,
    AccountError,
    ApiError,
    InternalError,
    InvalidParameter,
    MissingParameter,
    ServerApiError,
    Unauthorized,
    Unsupported,
)
from .jobs import (
    FAILED,
    SUCCEEDED,
    AsyncJob,
    Handover,
    call_handler,
    failure_result,
    finish,
    internal_failure,
)
from .listing import check_owner
from .params import (
    LIST,
    MAP,
    STRING,
    UUID,
    check_printable,
    collect_maps,
    convert_scalar,
    split_list,
)
from .registry import Command

log = logging.getLogger("sandstack.api")

KEY_AUTH_FAILED = "unable to verify user credentials and/or request signature"
SESSION_AUTH_FAILED = "unable to verify user credentials"
# Credentials and transport parameters never stored with a job.
_NOT_STORED = {"apikey", "signature", "signatureversion", "expires", "sessionkey", "response"}


class Reply(Exception):
    """Short-circuits request handling with a ready HTTP response."""

    def __init__(self, response: web.Response):
        self.response = response


class Dispatcher:
    def __init__(self, server):
        self.server = server
        self.registry = server.registry

    # ---- HTTP entry points -------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        raw = dict(request.query.items())
        if request.method == "POST" and request.can_read_body:
            try:
                form = await request.post()
            except (ValueError, UnicodeDecodeError):
                as_json = raw.get("response", "").lower() == "json"
                return self.error("errorresponse", InvalidParameter("The request body is not a valid "
                                                                    "url-encoded form"), as_json)
            raw.update((k, v) for k, v in form.items() if isinstance(v, str))
        return await self.serve(request, raw, integration=False)

    async def handle_integration(self, request: web.Request) -> web.Response:
        # The integration port reads the query string only, as upstream does.
        return await self.serve(request, dict(request.query.items()), integration=True)

    async def serve(self, request: web.Request, raw: dict[str, str], integration: bool) -> web.Response:
        lowered = {k.lower(): v for k, v in raw.items()}
        as_json = lowered.get("response", "").lower() == "json"
        name = lowered.get("command")
        cmd = self.registry.get(name) if name else None
        try:
            if not name:
                raise Reply(self.error("errorresponse", Unsupported("Invalid request, no command sent"), as_json))
            if integration:
                caller = self.system_caller()
                if cmd is None:
                    raise Reply(self.error("errorresponse", Unsupported(f"Unknown API command: {name}"), as_json))
            elif name in ("login", "logout"):
                return await self.server.sessions.handle(request, name, lowered, as_json)
            else:
                caller = self.authenticate(request, name, cmd, raw, lowered, as_json)
        except Reply as reply:
            return reply.response
        return await self.execute(cmd, caller, raw, lowered, as_json, integration)

    # ---- authentication ----------------------------------------------------------------------

    def system_caller(self) -> auth.Principal:
        return auth.by_user_id(self.server, auth.SYSTEM_USER_ID)

    def authenticate(self, request, name: str, cmd: Command | None, raw: dict, lowered: dict,
                     as_json: bool) -> auth.Principal:
        if "signature" in lowered or "apikey" in lowered:
            if cmd is None:
                raise Reply(self.error("errorresponse", Unauthorized(KEY_AUTH_FAILED), as_json))
            caller = self.verify_signature(raw, lowered)
            if caller is None:
                raise Reply(self.error(cmd.response_name, Unauthorized(KEY_AUTH_FAILED), as_json))
        else:
            caller = self.server.sessions.caller(request, lowered)
            if caller is None:
                wrapper = cmd.response_name if cmd else "errorresponse"
                raise Reply(self.error(wrapper, Unauthorized(SESSION_AUTH_FAILED), as_json))
            if cmd is None:
                raise Reply(self.error("errorresponse", Unsupported(f"Unknown API command: {name}"), as_json))
        if not auth.command_allowed(self.server, caller, cmd):
            error = Unauthorized(f"The given command '{cmd.name}' either does not exist, is not available "
                                 "for user.", cserrorcode=9999)
            raise Reply(self.error(cmd.response_name, error, as_json))
        return caller

    def verify_signature(self, raw: dict[str, str], lowered: dict[str, str]) -> auth.Principal | None:
        signature, api_key = lowered.get("signature"), lowered.get("apikey")
        if not signature or not api_key:
            return None
        if lowered.get("signatureversion") == "3":
            expires = lowered.get("expires")
            when = signing.parse_expires(expires) if expires else None
            if when is None or when.timestamp() < self.server.clock():
                return None
        caller = auth.by_api_key(self.server, api_key)
        if caller is None or not caller.usable or not caller.secret_key:
            return None
        lenient = self.server.config.value(None, "api.signature.lenient")
        variant = signing.verify(caller.secret_key, raw, signature, lenient=lenient)
        if variant is None:
            return None
        if variant != "strict":
            log.info("signature accepted with client variant %s", variant)
        return caller

    # ---- execution ---------------------------------------------------------------------------

    async def execute(self, cmd: Command, caller: auth.Principal, raw: dict, lowered: dict,
                      as_json: bool, integration: bool) -> web.Response:
        job_id = handover = None
        ctx = Context(self.server, None, caller, cmd)
        try:
            p = self.validate(ctx, cmd, raw, lowered, integration)
            if cmd.isasync:
                job_id, result, handover = self.enqueue(ctx, cmd, raw, p)
                response_object = None
            else:
                result = await call_handler(cmd.handler, ctx, p)
                response_object = cmd.response
            ctx.commit()
        except ApiError as error:
            ctx.rollback()
            return self.error(cmd.response_name, error, as_json)
        except Exception:
            ctx.rollback()
            log.exception("command %s failed", cmd.name)
            return self.error(cmd.response_name, InternalError(INTERNAL_ERROR_TEXT), as_json)
        finally:
            ctx.close()
        if job_id is not None:
            self.server.jobs.submit(job_id, handover)
        else:
            self.server.called[cmd.name] += 1  # the coverage report counts successful calls
        return self.respond(render.body(cmd.response_name, response_object, result), as_json)

    def enqueue(self, ctx: Context, cmd: Command, raw: dict, p: Params) -> tuple[int, dict, Handover]:
        stored = {k: v for k, v in raw.items() if k.lower() not in _NOT_STORED}
        answer: dict[str, Any] = {}
        instance_id = getattr(p.get("id"), "uuid", None)
        created = None
        if cmd.create is not None:
            created = cmd.create(ctx, p)
            ctx.db.flush()
            stored["_created"] = [type(created).__name__, created.id]
            instance_id = created.uuid
            answer["id"] = created.uuid
        caller = ctx.caller
        job = AsyncJob(user_id=caller.user_id, account_id=caller.account_id, domain_id=caller.domain_id,
                       cmd=cmd.name, params=json.dumps(stored), instance_type=cmd.instance_type,
                       instance_id=instance_id)
        ctx.db.add(job)
        ctx.db.flush()
        answer["jobid"] = job.uuid
        return job.id, answer, Handover.of(job, created, p)

    async def run_job(self, db, job: AsyncJob, handover: Handover | None = None) -> tuple[int, int, dict]:
        """Run a claimed job's command and record how it ended — in the transaction of its last changes
        when it succeeds; answer (status, resultcode, result object). `handover`: the rows the request
        that wrote the job had loaded, adopted instead of read again."""
        cmd = self.registry.get(job.cmd)
        caller = auth.by_user_id(self.server, job.user_id, db)
        if cmd is None or caller is None:
            outcome = FAILED, 530, failure_result(InternalError(f"Job command {job.cmd} cannot run here"))
            return self.record_outcome(db, job, outcome)
        raw = json.loads(job.params)
        created = raw.pop("_created", None)
        ctx = Context(self.server, db, caller, cmd, job_id=job.id)
        ctx.handed = handover.rows if handover else {}
        try:
            if created:
                model = self.server.models[created[0]]
                made = handover.created if handover else None
                ctx.created = (handover.adopt(db, made) if isinstance(made, model) and made.id == created[1]
                               else db.get(model, created[1]))
            p = self.validate(ctx, cmd, raw, {k.lower(): v for k, v in raw.items()}, False)
            result = await call_handler(cmd.handler, ctx, p)
            answer = render.body(cmd.response_name, cmd.response, result)[cmd.response_name]
            finish(db, job.id, SUCCEEDED, 0, answer)
            ctx.commit()
            self.server.called[cmd.name] += 1
            return SUCCEEDED, 0, answer
        except ApiError as error:
            ctx.rollback()
            outcome = FAILED, error.errorcode, failure_result(error)
        except Exception:
            ctx.rollback()
            log.exception("job %s (%s) failed", job.uuid, job.cmd)
            outcome = FAILED, 530, internal_failure()
        return self.record_outcome(db, job, outcome)

    @staticmethod
    def record_outcome(db, job: AsyncJob, outcome: tuple[int, int, dict]) -> tuple[int, int, dict]:
        db.rollback()
        finish(db, job.id, *outcome)
        db.commit()
        return outcome

    # ---- parameters --------------------------------------------------------------------------

    def validate(self, ctx: Context, cmd: Command, raw: dict, lowered: dict, integration: bool) -> Params:
        for key, value in raw.items():
            check_printable(key, value)
        name = cmd.name.lower()
        values = Params()
        maps = collect_maps(raw, cmd.map_params) if cmd.map_params else {}
        for param in cmd.params:
            key = param.key
            if param.type == MAP:
                entries = maps.get(key)
                if entries is None and param.required:
                    raise MissingParameter(f"Unable to execute API command {name} due to missing parameter "
                                           f"{param.name}")
                values[key] = entries
                continue
            value = lowered.get(key)
            if value is None:
                if param.required:
                    raise MissingParameter(f"Unable to execute API command {name} due to missing parameter "
                                           f"{param.name}")
                continue
            if integration and param.not_on_integration_port:
                raise AccountError(f"Parameter {param.name} can't be passed through the API integration port")
            if value == "":
                if param.required:
                    raise InvalidParameter(f"Invalid value provided for API arg: {param.name}")
                if param.type == STRING:
                    values[key] = ""
                continue
            if param.type == LIST:
                items = [convert_scalar(name, param.name, param.of, item, param.length)
                         for item in split_list(value)]
                if param.of == UUID:
                    items = [self.resolve(ctx, name, param, item) for item in items]
                values[key] = items
            elif param.type == UUID:
                values[key] = self.resolve(ctx, name, param, convert_scalar(name, param.name, UUID, value, 255))
            else:
                converted = convert_scalar(name, param.name, param.type, value, param.length)
                if param.choices and converted not in param.choices:
                    raise InvalidParameter(f"Invalid value {value} for parameter {param.name}; valid values "
                                           f"are {', '.join(param.choices)}")
                values[key] = converted
        return values

    def resolve(self, ctx: Context, name: str, param, value: str) -> Any:
        """A UUID parameter names a live row; answer the row (checking the caller may use it)."""
        model = param.entity
        if model is None or isinstance(model, str):
            return value
        handed = ctx.handed.get((model, value)) if ctx.handed else None
        if handed is not None:
            row = Handover.adopt(ctx.db, handed)
        else:
            query = prebuilt(("uuid", model), lambda: select(model).where(model.uuid == bindparam("uuid")))
            row = ctx.db.scalars(query, {"uuid": value}).first()
        if row is None and value.isdigit() and len(value) < 19:
            row = ctx.db.get(model, int(value))
        if row is None or getattr(row, "removed", None) is not None:
            raise ServerApiError(
                f"Unable to execute API command {name} due to invalid value. Invalid parameter "
                f"{param.name} value={value} due to incorrect long value format, or entity does not exist "
                "or due to incorrect parameter annotation for the field in api cmd class.", errorcode=431)
        if param.check_access and hasattr(row, "account_id") and hasattr(row, "domain_id"):
            check_owner(ctx, row.account_id, row.domain_id)
        return row

    # ---- responses ---------------------------------------------------------------------------

    def respond(self, envelope: dict, as_json: bool, status: int = 200, headers=None) -> web.Response:
        if as_json:
            return web.Response(body=render.to_json(envelope), status=status,
                                content_type="application/json", charset="UTF-8", headers=headers)
        return web.Response(body=render.to_xml(envelope), status=status, content_type="text/xml",
                            charset="UTF-8", headers=headers)

    def error(self, response_name: str, error: ApiError, as_json: bool) -> web.Response:
        # Header values must be single-line ASCII whatever the text quotes back from the request.
        description = error.text.encode("ascii", "replace").decode().replace("\r", " ").replace("\n", " ")
        return self.respond(render.error_body(response_name, error), as_json, status=error.errorcode,
                            headers={"X-Description": description[:1024]})
