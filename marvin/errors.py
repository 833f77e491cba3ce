"""Errors the client raises: they carry CloudStack's errorcode, cserrorcode and errortext."""


class CloudstackError(Exception):
    def __init__(self, command: str, errorcode: int, errortext: str, cserrorcode: int | None = None,
                 status: int | None = None, body: dict | None = None):
        super().__init__(f"{command}: {errorcode} {errortext}")
        self.command = command
        self.errorcode = errorcode
        self.cserrorcode = cserrorcode
        self.errortext = errortext
        self.status = status
        self.body = body


class JobFailed(CloudstackError):
    """An async job finished with jobstatus 2."""

    def __init__(self, command: str, jobid: str, result: dict):
        super().__init__(command, int(result.get("errorcode", 530)), result.get("errortext", ""),
                         result.get("cserrorcode"), body=result)
        self.jobid = jobid


class JobTimeout(Exception):
    pass
