"""CloudStack errors: each carries the HTTP errorcode and the cserrorcode clients read.

Logic raises these; the dispatcher turns them into the error envelope in one place.
"""


class ApiError(Exception):
    """An error answered with CloudStack's envelope. `errorcode` is also the HTTP status."""

    errorcode = 530
    cserrorcode: int | None = 4250  # CloudRuntimeException

    def __init__(self, text: str, *, errorcode: int | None = None, cserrorcode: int | None = -1,
                 uuids: list[dict] | None = None):
        super().__init__(text)
        self.text = text
        if errorcode is not None:
            self.errorcode = errorcode
        if cserrorcode != -1:
            self.cserrorcode = cserrorcode
        self.uuids = uuids or []


class ServerApiError(ApiError):
    """Raised by the API layer itself (upstream ServerApiException): cserrorcode 9999."""

    cserrorcode = 9999


class MissingParameter(ServerApiError):
    errorcode = 431


class InvalidParameter(ApiError):
    """InvalidParameterValueException."""

    errorcode = 431
    cserrorcode = 4350


class Unauthorized(ApiError):
    """Signature, key or session failures: 401 with no cserrorcode."""

    errorcode = 401
    cserrorcode = None


class Unsupported(ApiError):
    errorcode = 432
    cserrorcode = None


class MethodNotAllowed(ApiError):
    errorcode = 405
    cserrorcode = 9999


class PermissionDenied(ApiError):
    errorcode = 531
    cserrorcode = 4365


class AccountError(ApiError):
    """Login failures and the like: 531 without a cserrorcode."""

    errorcode = 531
    cserrorcode = None


class ResourceLimitExceeded(ApiError):
    errorcode = 532
    cserrorcode = 4280


class InsufficientCapacity(ApiError):
    errorcode = 533
    cserrorcode = 4325


class ResourceUnavailable(ApiError):
    errorcode = 534
    cserrorcode = 4380


class ResourceAllocationError(ApiError):
    errorcode = 535
    cserrorcode = 4370


class ResourceInUse(ApiError):
    errorcode = 536
    cserrorcode = 4375


class NetworkRuleConflict(ApiError):
    errorcode = 537
    cserrorcode = 4360


class ConcurrentOperation(ApiError):
    errorcode = 530
    cserrorcode = 4300


class InternalError(ApiError):
    errorcode = 530
    cserrorcode = 9999


INTERNAL_ERROR_TEXT = "Internal error executing command, please contact your system administrator"
