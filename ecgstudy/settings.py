"""Django settings; everything deployment-specific comes from the environment.

Every variable is listed in `.env.example` and the README. Without any of them the
project runs on a laptop: a SQLite file under `var/` and Celery tasks in-process.
"""

import importlib.metadata
import importlib.util
import ipaddress
import socket
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def bind_allowed_hosts(bind: str) -> list[str]:
    """The host names a server started with ``runserver BIND`` is reached by.

    BIND is runserver's address: "8000", "127.0.0.1:8000", "0.0.0.0:8000",
    "[::]:8000" or "name:8000". Every address of the machine (0.0.0.0, ::)
    gives the machine's own names and addresses, so that other machines reach
    it by any of them; another address gives that address. Loopback names are
    always allowed.
    """
    host = bind
    if bind.isdigit():
        host = "127.0.0.1"
    elif ":" in bind and not bind.endswith("]"):
        host = bind.rpartition(":")[0]
    host = host.strip("[]")
    hosts = {"localhost", "127.0.0.1", "[::1]"}
    if host not in {"", "0.0.0.0", "::"}:
        return sorted(hosts | {_bracketed(host)})
    names = {socket.gethostname(), socket.getfqdn()}
    hosts |= names
    for name in names:
        try:
            found = socket.getaddrinfo(name, None)
        except OSError:
            continue
        hosts |= {_bracketed(str(info[4][0])) for info in found}
    try:  # the address other machines reach: a UDP "connection" sends nothing
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            hosts.add(probe.getsockname()[0])
    except OSError:
        pass
    return sorted(h for h in hosts if h and "%" not in h)


def _bracketed(host: str) -> str:
    """An IPv6 address as a Host header carries it, in brackets."""
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"[{host}]" if is_v6 else host


env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (a long random "
            "string), or set DEBUG=1 for local development."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG"
# `make demo` sets DEMO_BIND to its HOST: without ALLOWED_HOSTS, the demo answers
# to the names of the address it listens on (see bind_allowed_hosts).
DEMO_BIND = env.str("DEMO_BIND", default="")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=bind_allowed_hosts(DEMO_BIND) if DEMO_BIND else ["127.0.0.1", "localhost"],
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: runserver then serves static files through WhiteNoise
    # too, with the same Cache-Control headers as production.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "ecgstudy.pool",
    "ecgstudy.studies",
    "ecgstudy.analysis",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # PostgreSQL cannot hold NUL in text: such a request is a 400 before any view.
    "ecgstudy.middleware.RejectNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into a 429 page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login rate limit: after AXES_FAILURE_LIMIT failed sign-ins for one username from
# one client address, that pair is locked out for AXES_COOLOFF_MINUTES. The client
# address is read behind PROXY_COUNT reverse proxies (ecgstudy/client_address.py),
# so one client's failures never lock out the others behind the same proxy.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.int("AXES_COOLOFF_MINUTES", default=15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
PROXY_COUNT = env.int("PROXY_COUNT", default=0)
if PROXY_COUNT < 0:
    raise ImproperlyConfigured(f"PROXY_COUNT must be 0 or more, not {PROXY_COUNT}")
AXES_CLIENT_IP_CALLABLE = "ecgstudy.client_address.client_address"
AXES_VERBOSE = False

ROOT_URLCONF = "ecgstudy.urls"
WSGI_APPLICATION = "ecgstudy.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default: every transaction takes SQLite's write lock when it
    # starts, and waits for it, so two submits at once queue instead of the second
    # failing with "database is locked" when it upgrades a read lock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# plotly.js (4.8 MB) for the report's charts comes from the installed plotly
# package, under a folder named by its version: browsers keep it for good
# (WHITENOISE_IMMUTABLE_FILE_TEST), and an upgrade changes its URL.
_PLOTLY_DIR = f"vendor/plotly-{importlib.metadata.version('plotly')}"
PLOTLY_JS_STATIC = f"{_PLOTLY_DIR}/plotly.min.js"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    (
        _PLOTLY_DIR,
        Path(importlib.util.find_spec("plotly").origin).parent / "package_data",
    ),
]
WHITENOISE_IMMUTABLE_FILE_TEST = r"/vendor/plotly-[^/]+/plotly\.min\.js$"
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "static")
# Signals and sheets live here. They are never served as plain files: readers
# reach a sheet only through their case page, researchers through the admin.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Where `manage.py setup_demo` finds real ECGs, and the generator's checkpoint.
ECG_DATA_DIR = env.path("ECG_DATA_DIR", default=BASE_DIR.parent / "shared" / "ecg")
GENERATOR_CHECKPOINT = env.path(
    "GENERATOR_CHECKPOINT", default=BASE_DIR / "fixtures" / "demo-checkpoint.pt"
)
# The other folders the demo checkpoint learnt from (fixtures/demo/README.md):
# setup_demo's privacy reference takes the training patients of those present.
GENERATOR_LEARNT_FROM = env.list(
    "GENERATOR_LEARNT_FROM",
    default=[
        str(BASE_DIR.parent / "shared" / "ecg-extra" / name)
        for name in ("ptbxl-shape", "code15", "ptbdb-long")
    ],
)
# The folder whose checkpoints the admin's generation form offers; it accepts no
# other path.
GENERATOR_CHECKPOINT_DIR = env.path(
    "GENERATOR_CHECKPOINT_DIR", default=Path(GENERATOR_CHECKPOINT).parent
)
# Where Celery workers run the generator: auto (a GPU if found), cpu or cuda.
GENERATOR_DEVICE = env.str("GENERATOR_DEVICE", default="auto")
# Sampling rate of the pool: the generator's rate, so real and synthetic ECGs
# are equally smooth on the sheet.
POOL_FS = env.int("POOL_FS", default=100)

# Without a broker, tasks run in-process as they are called.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "memory://"
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Where generation jobs started in the admin run, never inside the request:
# "celery" sends their chunks to the broker's workers (the default with a broker;
# if the broker does not answer, the job runs in a thread instead); "thread" runs
# them one at a time in a background thread of the web server process (the
# default without a broker; see ecgstudy/pool/background.py).
GENERATION_RUNNER = env.str(
    "GENERATION_RUNNER",
    default="thread" if CELERY_BROKER_URL == "memory://" else "celery",
)
if GENERATION_RUNNER not in {"celery", "thread"}:
    raise ImproperlyConfigured(
        f"GENERATION_RUNNER must be celery or thread, not {GENERATION_RUNNER!r}"
    )
# With the thread runner, a queued or running job with no ECG written for this
# many minutes is marked failed: the server process that ran it has stopped.
GENERATION_STALE_MINUTES = env.int("GENERATION_STALE_MINUTES", default=30)
if GENERATION_STALE_MINUTES < 1:
    raise ImproperlyConfigured(
        f"GENERATION_STALE_MINUTES must be 1 or more, not {GENERATION_STALE_MINUTES}"
    )

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Production hardening, on whenever DEBUG is off.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False
)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# A request's body, file uploads apart (the synthetic-set upload's arrays are
# files, not limited here): no form of the app posts more than a few KB.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's own default gives "django" a console handler of its own under
    # DEBUG; with the root's, each of its lines printed twice. It now reaches
    # the console through the root alone. ("django.server", runserver's request
    # lines, keeps its own handler and does not propagate.)
    "loggers": {"django": {"handlers": [], "propagate": True}},
}
