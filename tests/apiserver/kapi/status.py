# SPDX-License-Identifier: Apache-2.0
"""Status error bodies, shaped exactly like kube-apiserver's (apimachinery
pkg/api/errors): kind Status, apiVersion v1, metadata {}, status Failure,
message, reason, details, code.  Handlers raise ApiError; the HTTP layer turns
it into the JSON body (and Retry-After for 429)."""


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None, extra_meta=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.extra_meta = extra_meta or {}

    def body(self):
        b = {"kind": "Status", "apiVersion": "v1", "metadata": dict(self.extra_meta),
             "status": "Failure", "message": self.message, "reason": self.reason}
        if self.details is not None:
            b["details"] = self.details
        b["code"] = self.code
        return b


def qualified(resource, group):
    """'pods' or 'leases.coordination.k8s.io' (schema.GroupResource.String)."""
    return resource if not group else "%s.%s" % (resource, group)


def _details(name, group, kind):
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = kind
    return d


def not_found(resource, group, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (qualified(resource, group), name),
                    _details(name, group, resource))


def path_not_found():
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(resource, group, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (qualified(resource, group), name),
                    _details(name, group, resource))


def conflict(resource, group, name, msg="the object has been modified; please apply your "
             "changes to the latest version and try again"):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s'
                    % (qualified(resource, group), name, msg), _details(name, group, resource))


class FieldError:
    """One field.Error: type is Required/Invalid/NotSupported/Forbidden/TooLong."""
    REASONS = {"Required": "FieldValueRequired", "Invalid": "FieldValueInvalid",
               "NotSupported": "FieldValueNotSupported", "Forbidden": "FieldValueForbidden",
               "TooLong": "FieldValueTooLong", "Duplicate": "FieldValueDuplicate"}

    def __init__(self, etype, field, value=None, detail=""):
        self.etype, self.field, self.value, self.detail = etype, field, value, detail

    def body(self):
        """ErrorBody(): the text after 'field: '."""
        if self.etype == "Required":
            s = "Required value"
        elif self.etype == "Forbidden":
            s = "Forbidden"
        elif self.etype == "TooLong":
            s = "Too long"
        elif self.etype == "NotSupported":
            s = "Unsupported value: %s" % _gostr(self.value)
        elif self.etype == "Duplicate":
            s = "Duplicate value: %s" % _gostr(self.value)
        else:
            s = "Invalid value: %s" % _gostr(self.value)
        if self.detail:
            s += ": " + self.detail
        return s

    def __str__(self):
        return "%s: %s" % (self.field, self.body())


def _gostr(v):
    """How field.Error prints a value: strings quoted (%q), numbers bare."""
    if isinstance(v, str):
        import json
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return str(v)


def invalid(kind, group, name, errs):
    """422 Invalid (errors.NewInvalid): message 'Kind.group "name" is invalid: ...'
    with one cause per field error; several errors print as [a, b]."""
    qk = kind if not group else "%s.%s" % (kind, group)
    if len(errs) == 1:
        agg = str(errs[0])
    else:
        agg = "[" + ", ".join(str(e) for e in errs) + "]"
    causes = [{"reason": FieldError.REASONS.get(e.etype, "FieldValueInvalid"),
               "message": e.body(), "field": e.field} for e in errs]
    d = {"name": name, "group": group, "kind": kind, "causes": causes}
    if not name:
        del d["name"]
    if not group:
        del d["group"]
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (qk, name, agg), d)


def bad_request(msg):
    return ApiError(400, "BadRequest", msg)


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(resource, group, name, namespace, verb, user):
    where = ' in the namespace "%s"' % namespace if namespace else " at the cluster scope"
    what = '%s "%s"' % (qualified(resource, group), name) if name else qualified(resource, group)
    msg = '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s"%s' % (
        what, user, verb, resource, group, where)
    return ApiError(403, "Forbidden", msg, _details(name, group, resource))


def expired(msg, continue_token=None):
    meta = {"continue": continue_token} if continue_token else None
    return ApiError(410, "Expired", msg, None, extra_meta=meta)


def too_old_rv(rv, oldest):
    return expired("too old resource version: %s (%s)" % (rv, oldest))


def gone(msg):
    return ApiError(410, "Gone", msg)


CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter, or use the "
                    "continue token in this response to retrieve the remainder of the results. "
                    "Continuing with the provided token results in an inconsistent list - objects "
                    "that were created, modified, or deleted between the time the first chunk was "
                    "returned and now may show up in the list.")


def too_many_requests(retry_after=1):
    return ApiError(429, "TooManyRequests", "Too many requests, please try again later.",
                    {"retryAfterSeconds": int(retry_after)},
                    headers={"Retry-After": str(int(retry_after))})


def internal(msg="test server injected fault"):
    return ApiError(500, "InternalError", "Internal error occurred: %s" % msg,
                    {"causes": [{"message": msg}]})


def too_large_rv(rv, current):
    return ApiError(504, "Timeout", "Too large resource version: %s, current: %s" % (rv, current),
                    {"causes": [{"reason": "ResourceVersionTooLarge",
                                 "message": "Too large resource version"}], "retryAfterSeconds": 1},
                    headers={"Retry-After": "1"})


def method_not_allowed(verb, resource, group=""):
    return ApiError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource", {})


def unsupported_media_type(accepted):
    return ApiError(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types "
                    "include: " + ", ".join(accepted), {})


def entity_too_large(limit):
    return ApiError(413, "RequestEntityTooLarge",
                    "Request entity too large: limit is %d" % limit, {})


def status_success(name, group, kind, uid=None):
    d = _details(name, group, kind)
    if uid:
        d["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": d}


def make_error(code, reason=None, message=None, retry_after=None):
    """Build an injected fault of a given HTTP code with the real reason/message."""
    code = int(code)
    if code == 410:
        if reason == "Gone":
            return gone(message or "too old resource version (injected)")
        return expired(message or "too old resource version: 1 (2)")
    if code == 429:
        return too_many_requests(retry_after if retry_after is not None else 1)
    if code == 500:
        return internal(message or "test server injected fault")
    if code == 401:
        return unauthorized()
    if code == 403:
        return ApiError(403, "Forbidden", message or "forbidden (injected)", {})
    if code == 404:
        return path_not_found()
    if code == 409:
        return ApiError(409, "Conflict", message or "conflict (injected)", {})
    if code == 503:
        e = ApiError(503, "ServiceUnavailable", message or "the server is currently unable to "
                     "handle the request", {"retryAfterSeconds": int(retry_after or 1)},
                     headers={"Retry-After": str(int(retry_after or 1))})
        return e
    e = ApiError(code, reason or "InternalError", message or "injected error", {})
    if retry_after is not None:
        e.headers["Retry-After"] = str(int(retry_after))
    return e
