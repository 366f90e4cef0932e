"""Gantry settings. Everything comes from the environment; `.env.example` documents each variable.

With no environment at all Gantry runs on embedded defaults (SQLite under var/, a file-system Celery
broker, local file storage, the moto sandbox). Setting DATABASE_URL, REDIS_URL/CELERY_BROKER_URL and
GANTRY_STORAGE=s3 switches the same code to PostgreSQL, Redis and S3.
"""

import json
import os
import secrets
from pathlib import Path

import dj_database_url

from portal.celery_routes import CELERY_BEAT_SCHEDULE, CELERY_TASK_ROUTES  # noqa: F401

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("GANTRY_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# litellm fetches a price map from the internet at import time unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def _secret_key() -> str:
    """The configured key, or one generated once and kept in var/ so web and worker share it."""
    if key := env("DJANGO_SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# Behind TLS (production): secure cookies, HSTS, redirect to https.
HTTPS = env_bool("GANTRY_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("GANTRY_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = int(env("GANTRY_HSTS_SECONDS", "31536000")) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS and env_bool("GANTRY_HSTS_PRELOAD", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("GANTRY_BEHIND_PROXY") else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = int(env("GANTRY_SESSION_SECONDS", str(12 * 3600)))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "django_htmx",
    "guardian",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "portal",
    "tenants",
    "runs",
    "blueprints",
    "agents",
    "iac",
]

MIDDLEWARE = [
    "portal.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "tenants.middleware.ActiveTenantMiddleware",
    "tenants.middleware.MfaRequiredMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.active_tenant",
                "runs.context_processors.approvals_waiting",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'gantry.sqlite3'}"),
        conn_max_age=int(env("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker share the file: WAL, a busy timeout and immediate write transactions.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits, locks): Redis when configured, else files shared by every process --------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Celery: Redis in production; a file-system broker (no server) by default ---------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    _processed_dir.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        # kombu otherwise writes its exchange table to ./control in the working directory
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True  # the job row is the truth, never the result backend
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Runs: approvals, leases, heartbeat, reconciler, webhooks ---------------------------------------
GANTRY_APPROVALS_REQUIRED = json.loads(
    env("GANTRY_APPROVALS_REQUIRED", '{"prod": 2, "staging": 1, "dev": 1}')
)
GANTRY_APPROVAL_WINDOW_HOURS = float(env("GANTRY_APPROVAL_WINDOW_HOURS", "72"))
GANTRY_CHANGE_TICKET_ENVS = env_list("GANTRY_CHANGE_TICKET_ENVS", "prod")
GANTRY_HEARTBEAT_SECONDS = float(env("GANTRY_HEARTBEAT_SECONDS", "10"))
GANTRY_HEARTBEAT_TIMEOUT_SECONDS = int(env("GANTRY_HEARTBEAT_TIMEOUT_SECONDS", "120"))
GANTRY_RUN_LEASE_SECONDS = int(env("GANTRY_RUN_LEASE_SECONDS", "120"))
GANTRY_LOCK_RETRY_SECONDS = int(env("GANTRY_LOCK_RETRY_SECONDS", "30"))
GANTRY_RUN_NUDGE_SECONDS = int(env("GANTRY_RUN_NUDGE_SECONDS", "600"))
# Drift checks per environment, in hours (0: off); beat looks for due stacks every GANTRY_DRIFT_SWEEP_SECONDS.
GANTRY_DRIFT_CHECK_HOURS = json.loads(
    env("GANTRY_DRIFT_CHECK_HOURS", '{"prod": 6, "staging": 12, "dev": 24}')
)
GANTRY_WEBHOOK_ALLOW_PRIVATE = env_bool("GANTRY_WEBHOOK_ALLOW_PRIVATE", False)

# --- Read-only AWS calls (MCP tools): a circuit breaker per account and service ---------------------
GANTRY_AWS_BREAKER_FAILURES = int(env("GANTRY_AWS_BREAKER_FAILURES", "5"))
GANTRY_AWS_BREAKER_COOLDOWN_SECONDS = float(env("GANTRY_AWS_BREAKER_COOLDOWN_SECONDS", "30"))

# --- Storage: local files by default, S3 through django-storages in production ---------------------
MEDIA_ROOT = Path(env("GANTRY_MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media-not-served/"  # artifacts are only served through permission-checked views
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
if env("GANTRY_STORAGE", "local") == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("GANTRY_S3_BUCKET"),
            "region_name": env("GANTRY_S3_REGION") or None,
            "endpoint_url": env("GANTRY_S3_ENDPOINT_URL") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": int(env("GANTRY_S3_URL_SECONDS", "300")),
            "file_overwrite": False,
            "object_parameters": {"ServerSideEncryption": "aws:kms"}
            if env_bool("GANTRY_S3_KMS", True)
            else {},
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "file_permissions_mode": 0o600},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("GANTRY_STATIC_MANIFEST")
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Authentication: allauth with MFA, guardian object permissions ---------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env("GANTRY_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_SIGNUP_FORM_CLASS = "tenants.forms.SignupForm"
ACCOUNT_ADAPTER = "tenants.auth_adapter.AccountAdapter"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": env("GANTRY_LOGIN_FAILED_RATE", "10/m/ip,5/5m/key"),
    "signup": "20/h/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Gantry"
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row

# Embedded default: each message is a file under var/mail (gantry_up prints the folder), so sign-up
# verification links do not drown in the processes' console output.
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = Path(env("EMAIL_FILE_PATH") or VAR_DIR / "mail")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Gantry <gantry@localhost>")

# --- Django REST framework -------------------------------------------------------------------------
# Bearer personal access tokens first (so a missing credential is a 401 with WWW-Authenticate), then the
# browser session. JSON only. Rates are per token / session user / anonymous address.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.NewestFirstPagination",
    "DEFAULT_THROTTLE_CLASSES": ["portal.api.throttles.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "token": env("GANTRY_API_RATE_TOKEN", "1200/min"),
        "session": env("GANTRY_API_RATE_SESSION", "600/min"),
        "anon": env("GANTRY_API_RATE_ANON", "60/min"),
    },
    "EXCEPTION_HANDLER": "portal.api.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Gantry API",
    "DESCRIPTION": "Plain-language AWS changes as reviewed Terraform: intents, runs, approvals, audit. "
    "Authenticate with `Authorization: Bearer gty_…` (Settings → API tokens); every call acts in the "
    "token's tenant with the lower of the token's and your current role.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "tenants.roles.Role",
        "RunStatusEnum": "runs.states.RunStatus",
        "RunKindEnum": "runs.models.RunKind",
        "ArtifactKindEnum": "runs.models.ArtifactKind",
        "GateStatusEnum": "runs.models.GateStatus",
        "BlueprintStatusEnum": "blueprints.models.BlueprintStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.add_error_responses",
    ],
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "portal.logging.RequestIdFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": env("GANTRY_LOG_LEVEL", "INFO")},
    "loggers": {"LiteLLM": {"level": "WARNING"}, "botocore": {"level": "WARNING"}},
}

# --- Gantry: AWS, sandbox, Terraform, gates, agents ------------------------------------------------
GANTRY_SANDBOX_HOST = env("GANTRY_SANDBOX_HOST", "127.0.0.1")
GANTRY_SANDBOX_PORT = int(env("GANTRY_SANDBOX_PORT", "4599"))
GANTRY_SANDBOX_ENDPOINT = env(
    "GANTRY_SANDBOX_ENDPOINT", f"http://{GANTRY_SANDBOX_HOST}:{GANTRY_SANDBOX_PORT}"
)
GANTRY_ASSUME_ROLE_SECONDS = int(env("GANTRY_ASSUME_ROLE_SECONDS", "3600"))
GANTRY_PLATFORM_AWS_PROFILE = env("GANTRY_PLATFORM_AWS_PROFILE")  # else the default credential chain

TERRAFORM_BIN = env("TERRAFORM_BIN", "terraform")
TERRAFORM_MIN_VERSION = env("TERRAFORM_MIN_VERSION", "1.6.0")
# A filesystem mirror of providers; empty means the public registry. The one place it is found, for
# make and for manage.py run by hand alike: TERRAFORM_PLUGIN_DIR, else the image's mirror when present.
DEFAULT_TERRAFORM_PLUGIN_DIR = "/opt/tf-plugins"
TERRAFORM_PLUGIN_DIR = env("TERRAFORM_PLUGIN_DIR") or (
    DEFAULT_TERRAFORM_PLUGIN_DIR if Path(DEFAULT_TERRAFORM_PLUGIN_DIR).is_dir() else ""
)
TERRAFORM_PLUGIN_CACHE_DIR = Path(
    env("TERRAFORM_PLUGIN_CACHE_DIR", str(VAR_DIR / "terraform" / "plugin-cache"))
)
TERRAFORM_TIMEOUT_SECONDS = int(env("TERRAFORM_TIMEOUT_SECONDS", "1800"))
GANTRY_WORK_ROOT = Path(env("GANTRY_WORK_ROOT", str(VAR_DIR / "work")))
# Run.engine → the class that plans and applies it (runs/ imports no engine itself).
GANTRY_ENGINES = {
    "terraform": "runs.terraform_engine.TerraformEngine",
    "aws": "agents.aws.engine.AwsEngine",
}
# The aws engine: most targets one action plan may touch (a tenant's AwsAccount can lower it), how long
# an action waits for its outcome, and how often it polls.
GANTRY_OPS_MAX_TARGETS = int(env("GANTRY_OPS_MAX_TARGETS", "50"))
GANTRY_AWS_WAIT_SECONDS = float(env("GANTRY_AWS_WAIT_SECONDS", "120"))
GANTRY_AWS_POLL_SECONDS = float(env("GANTRY_AWS_POLL_SECONDS", "2"))
GANTRY_TOOL_WAIT_SECONDS = float(
    env("GANTRY_TOOL_WAIT_SECONDS", "20")
)  # an ops tool waits this long for the plan
CHECKOV_BIN = env("CHECKOV_BIN", str(BASE_DIR / ".tools" / "checkov" / "bin" / "checkov"))
GANTRY_ALLOWED_PROVIDERS = env_list("GANTRY_ALLOWED_PROVIDERS", "hashicorp/aws")
GANTRY_HTTP_DATA_ALLOWED_HOSTS = env_list("GANTRY_HTTP_DATA_ALLOWED_HOSTS")
# Units of each currency per US dollar; requests may state budgets in any of them.
GANTRY_CURRENCY_RATES = json.loads(
    env("GANTRY_CURRENCY_RATES", '{"USD": 1, "INR": 84.0, "EUR": 0.92, "GBP": 0.79}')
)

GANTRY_LLM_MODEL = env("GANTRY_LLM_MODEL")  # any litellm model string; empty = offline parser
GANTRY_LLM_TIMEOUT_SECONDS = float(env("GANTRY_LLM_TIMEOUT_SECONDS", "30"))
# AMIs for the web tier per region ("default" for any other); sandbox accounts use moto's stock AMI.
GANTRY_AMI_IDS = json.loads(env("GANTRY_AMI_IDS", "{}"))
# Instance size and count caps per environment; empty means the agents' and policies' built-in defaults.
GANTRY_INSTANCE_CAPS = json.loads(env("GANTRY_INSTANCE_CAPS", "{}")) or None
GANTRY_MAX_CAPACITY = json.loads(env("GANTRY_MAX_CAPACITY", "{}")) or None
