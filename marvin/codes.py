"""Constants shared by tests, under the names upstream Marvin's `marvin.codes` gives them."""

# validateList and friends answer [PASS or FAIL, value, reason].
PASS = 1
FAIL = 0
FAILED = "FAILED"
SUCCESS = "SUCCESS"
INVALID_INPUT = "INVALID INPUT"
EMPTY_LIST = "EMPTY_LIST"

# Virtual machine states.
RUNNING = "Running"
STOPPED = "Stopped"
STOPPING = "Stopping"
STARTING = "Starting"
DESTROYED = "Destroyed"
EXPUNGING = "Expunging"

ENABLED = "Enabled"
DISABLED = "Disabled"

# Account types.
USER = 0
ADMIN = 1
DOMAIN_ADMIN = 2

# Async job status (queryAsyncJobResult's jobstatus).
JOB_INPROGRESS = 0
JOB_SUCCEEDED = 1
JOB_FAILED = 2
JOB_CANCELLED = 3

# Traffic types, as upstream tests spell them.
PUBLIC_TRAFFIC = "public"
GUEST_TRAFFIC = "guest"
MANAGEMENT_TRAFFIC = "management"
STORAGE_TRAFFIC = "storage"
