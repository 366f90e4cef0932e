"""Deterministic, rule-based intent parser: no network, no model, a few hundred microseconds a request.

``parse(text)`` turns a plain-language AWS request into an ``agents.intent.Intent``. It is the
fallback when no LLM is configured and the fast path the LLM parser's output is checked against.

How it works, in order:

1. normalise the text (accents, quotes) and keep a lowercase copy aligned character by character with
   the original, so identifiers can be read back with their case;
2. correct typos in ordinary words against the keyword vocabulary (edit distance 1, 2 for long words,
   same first letter), never in identifiers (anything with digits, dots, dashes, or after "named");
3. pull out structured spans with regular expressions and blank them: quoted names, ``s3://`` URIs,
   budgets, storage sizes, look-back windows, region codes and city names, tags, instance types and
   RDS classes, database engines, scaling ranges;
4. tokenise what is left, match multi-word phrases (resource nouns, verbs, quantities) and walk the
   tokens once to attach counts, instance types, engines and names to the resources they describe;
5. decide action and domain from the verbs and keywords, fill the details, list assumptions and
   ambiguities, and score confidence.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from pydantic import ValidationError

from agents import screening, timerange
from agents import vocabulary as V
from agents.intent import (
    MAX_COMMAND,
    REGION_RE,
    Action,
    Ambiguity,
    Budget,
    Currency,
    Domain,
    Environment,
    Flag,
    Intent,
    LogLevel,
    Operation,
    Params,
    Period,
    Resource,
    ResourceType,
    TimeRange,
)

__all__ = ["MAX_TEXT", "parse"]

MAX_TEXT = 2000
MAX_COUNT = 1000
PARSER_NAME = "offline"

R = ResourceType

# --- regular expressions ---------------------------------------------------------------------------

_SIZES = "|".join(sorted(V.INSTANCE_SIZES, key=len, reverse=True))
_FAMILY = r"(?:[tmcrxzidgpahu]|inf|trn|dl|vt|hpc|im|is|mac)\d[a-z-]{0,5}"

_QUOTED_RE = re.compile(r"\"([^\"\s]{1,255})\"|(?<!\w)'([^'\s]{1,255})'(?!\w)")
_S3_URI_RE = re.compile(r"s3://([a-z0-9][a-z0-9.\-]{1,62})(/\S*)?", re.ASCII)
_SYM = r"(?:₹|\$|€|£)"
_CUR_WORD = r"(?:rs\.?|inr|usd|eur|gbp|rupees?|dollars?|bucks|euros?|pounds?|quid)"
_AMOUNT = (
    # bounded repetitions, so a long run of digits and commas cannot make the regex backtrack for long
    r"(\d{1,3}(?:,\d{2,3}){1,4}(?:\.\d{1,6})?|\d{1,12}(?:\.\d{1,6})?|\.\d{1,6})"
    r"\s*(k|lakhs?|lacs?|l|cr|crores?|m|mn|million)?(?![\w])"
)
_PERIOD_TAIL = (
    r"(?:\s*(?:/|per|an?|each|every|a\s+|p/?|p\.)?\s*"
    r"(hours?|hrs?|h|hourly|days?|d|daily|months?|mo|mon|mth|m|monthly|pm|p\.m\.|pcm|ph|pd)\b\.?)?"
)
_BUDGET_RES = (
    re.compile(rf"(?<![\w])(?:{_SYM}|{_CUR_WORD}\s?)\s*{_AMOUNT}{_PERIOD_TAIL}", re.ASCII),
    re.compile(rf"(?<![\w.]){_AMOUNT}\s*(?:{_SYM}|{_CUR_WORD}(?![\w])){_PERIOD_TAIL}", re.ASCII),
)
_BUDGET_NO_CURRENCY_RE = re.compile(
    r"\b(?:budget|cap|limit|max|maximum|under|below|within|at most)\b[^\d\n]{0,12}"
    r"(\d{1,12}(?:,\d{2,3}){0,4}(?:\.\d{1,6})?)\s*(?:/|per|a)\s*(hour|hr|day|month|mo)\b",
    re.ASCII,
)
_PERIOD_BEFORE_RE = re.compile(r"\b(hourly|daily|monthly|per (?:hour|day|month))\b[^.;,\n]{0,30}$", re.ASCII)
_STORAGE_RE = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)\s*(tb|tib|terabytes?|gb|gib|gigs?|gigabytes?)(?![\w])(\s+(?:of\s+)?(?:ram|memory))?",
    re.ASCII,
)
_MEMORY_MB_RE = re.compile(r"(?<![\w.])(\d+)\s*(mb|mib|megabytes?)(?![\w])", re.ASCII)
_NUM_WORDS = "|".join(sorted(V.NUMBER_WORDS, key=len, reverse=True))
_WINDOW_RE = re.compile(
    r"\b(?:(?:in|over|within|during|for)\s+the\s+)?(?:last|past|previous|prior)\s+"
    rf"(?:(\d{{1,4}}|an?|{_NUM_WORDS}|twenty[\s-]four)\s*)?"
    r"(minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|months?)\b",
    re.ASCII,
)
_WINDOW_SHORT_RE = re.compile(r"(?<![\w.\-])(\d{1,4})(m|h|d|hr|hrs|min|mins)(?![\w.\-])", re.ASCII)
_REGION_CODE_RE = re.compile(
    r"(?<![\w])(us|eu|ap|sa|ca|me|af|il|mx)[\-\s](gov[\-\s])?"
    r"(north|south|east|west|central|northeast|southeast|northwest|southwest)[\-\s]?(\d{1,2})(?![\w])",
    re.ASCII,
)
_REGION_NAME_RE = re.compile(
    r"(?<![\w\-])("
    + "|".join(re.escape(name) for name in sorted(V.REGION_NAMES, key=len, reverse=True))
    + r")(?![\w\-])",
    re.ASCII,
)
_TAG_KV_RE = re.compile(
    r"(?<![\w/:.@\-])([a-z][\w.\-/]{0,127})(?:\s?=\s?|:)([\w.\-/@+]{1,256})(?![\w/:])", re.ASCII
)
_TAG_WORDS_RE = re.compile(
    r"\b(tagged|labell?ed|tag)\s+(?:with\s+)?(?:the\s+)?(?:tag\s+)?([a-z][\w.\-]{0,127})\s+"
    r"(?:as|of|set\s+to|is|equal\s+to|equals)\s+([\w.\-@]{1,256})",
    re.ASCII,
)
_TAG_WITH_RE = re.compile(
    r"\b(?:with|where|having|has)\s+(?:an?\s+|the\s+|its\s+)?([a-z][\w\-]{0,63})\s+tag\s+"
    r"(?:of|set\s+to|is|equal\s+to|equals|=)\s+([\w.\-@]{1,256})",
    re.ASCII,
)
_DB_CLASS_RE = re.compile(rf"(?<![\w.])db\.({_FAMILY})\.({_SIZES})s?(?![\w.])", re.ASCII)
_ITYPE_RE = re.compile(rf"(?<![\w.])({_FAMILY})\.({_SIZES})s?(?![\w])", re.ASCII)
_ITYPE_SPACED_RE = re.compile(rf"(?<![\w.\-])({_FAMILY})[\s\-]({_SIZES})s?(?![\w.\-])", re.ASCII)
_ITYPE_REVERSED_RE = re.compile(rf"(?<![\w.\-])({_SIZES})\s({_FAMILY})(?![\w.\-])", re.ASCII)
_ENGINE_RE = re.compile(
    r"(?<![\w\-])(aurora[\s\-](?:postgres(?:ql)?|mysql)|aurora|postgres(?:ql)?|mysql|mariadb|oracle|"
    r"sql\sserver|sqlserver|mssql)(?:\s*(?:v|version|ver\.?)?\s*(\d{1,2}(?:\.\d{1,2}){0,2}))?(?![\w\-])",
    re.ASCII,
)
_RANGE_RES = (
    re.compile(r"\bbetween\s+(\d{1,4})\s+and\s+(\d{1,4})\b", re.ASCII),
    re.compile(
        r"\bmin(?:imum)?\s*(?:of\s*|=\s*|:\s*)?(\d{1,4})\W{1,3}max(?:imum)?\s*(?:of\s*|=\s*|:\s*)?(\d{1,4})\b"
    ),
    re.compile(r"\bfrom\s+(\d{1,4})\s+to\s+(\d{1,4})\s+(?=instances|nodes|servers|tasks)", re.ASCII),
    re.compile(r"(?<![\w.\-])(\d{1,4})\s*-\s*(\d{1,4})\s+(?=instances|nodes|servers|tasks)", re.ASCII),
)
_PORT_RE = re.compile(r"\bports?\s+\d{1,5}(?:\s*(?:,|and|/)\s*\d{1,5})*", re.ASCII)
_AZ_RE = re.compile(
    r"\b(?:across|in|over|spanning|spread over|spread across)\s+(?:\d|two|three|multiple)\s+"
    r"(?:azs|availability zones|zones)\b",
    re.ASCII,
)
_NODE_HYPHEN_RE = re.compile(r"(?<=\d)-(?=(?:node|nodes|instance|server|az)\b)", re.ASCII)
_TIMES_RE = re.compile(r"(?<![\w.])(\d{1,4})\s?x(?=\s)", re.ASCII)
_GROUP_BY_RE = re.compile(
    r"\b(?:grouped by|group by|broken down by|breakdown by|split by|by|per)\s+"
    r"(service|region|account|team|tag|environment|instance type|usage type|resource)\b",
    re.ASCII,
)
_TOKEN_RE = re.compile(r"[a-z0-9](?:[a-z0-9._\-']*[a-z0-9])?|\?", re.ASCII)
_WORD_FOR_TYPO_RE = re.compile(r"(?<![\w.\-=:/@'\"])([a-z]{4,24})(?![\w\-=:/@'\"]|\.\w)", re.ASCII)
_NAME_LIKE_RE = re.compile(r"^[a-z0-9][a-z0-9._\-]*[a-z0-9]$", re.ASCII)

# Operations on live resources: targets as the user named them.
_IDENT = r"([a-z0-9][a-z0-9_.\-]{0,254})"
_ECS_RE = re.compile(
    rf"\b(?:ecs\s+)?service\s+(?:named\s+|called\s+)?{_IDENT}"
    rf"(?:\s+(?:in|on|of|from)\s+(?:the\s+)?(?:ecs\s+)?cluster\s+(?:named\s+|called\s+)?{_IDENT})?",
    re.ASCII,
)
_ECS_REVERSED_RE = re.compile(
    rf"\b(?:ecs\s+)?cluster\s+{_IDENT}(?:'s)?\s+(?:ecs\s+)?service\s+{_IDENT}", re.ASCII
)
_ECS_NAME_FIRST_RE = re.compile(
    rf"\b{_IDENT}\s+(?:ecs\s+)?service\b"
    rf"(?:\s+(?:in|on|of|from)\s+(?:the\s+)?(?:ecs\s+)?cluster\s+(?:named\s+|called\s+)?{_IDENT})?",
    re.ASCII,
)
_NOT_SERVICE_NAMES = frozenset(
    {"ecs", "aws", "a", "this", "that", "each", "every", "managed", "cloud", "new"}
)
_ASG_RE = re.compile(
    rf"\b(?:asg|auto[\s\-]?scaling\s+group|scaling\s+group)\s+(?:named\s+|called\s+)?{_IDENT}", re.ASCII
)
_DB_NAME_RE = re.compile(
    rf"\b(?:database|db|rds)(?:\s+instance)?\s+(?:named\s+|called\s+)?{_IDENT}", re.ASCII
)
_SECRET_RE = re.compile(
    r"\b(?:secrets\s+manager\s+)?secret\s+(?:named\s+|called\s+)?([a-z0-9][a-z0-9/_+=.@\-]{0,511})", re.ASCII
)
# ECS services, ASGs and databases are read as named targets only next to a verb that acts on them,
# so "cost by service" or "create a database for orders" keep their old reading.
_LIVE_VERB_RE = re.compile(
    r"\b(?:scale[sd]?|restart|reboot|bounce|stop|start|update|set|redeploy|snapshot|back\s?up|backup)\b",
    re.ASCII,
)
_TAG_KEY = r"[a-z][\w.\-/:]{0,127}"
_TAG_KEYS = rf"({_TAG_KEY}(?:\s*,\s*{_TAG_KEY}|\s+and\s+{_TAG_KEY})*)"
_UNTAG_RES = (
    re.compile(rf"\buntag\s+(?:the\s+)?(?:tags?\s+)?{_TAG_KEYS}\s+from\b", re.ASCII),
    re.compile(rf"\b(?:remove|delete|drop|strip)\s+(?:the\s+)?{_TAG_KEYS}\s+tags?\s+from\b", re.ASCII),
    re.compile(rf"\b(?:remove|delete|drop|strip)\s+(?:the\s+)?tags?\s+{_TAG_KEYS}\s+from\b", re.ASCII),
)
_TAG_VERB_RE = re.compile(
    r"^\W*(?:(?:please|pls|kindly|can you|could you|now)\s+)*(tag|untag)\s+(?!compliance|polic|report)",
    re.ASCII,
)
# "run df -h on the web servers": the command is what stands between the verb and the targets.
_COMMAND_RE = re.compile(
    r"\b(?:run|execute)\s+(?:the\s+)?(?:(?:shell\s+)?command\s+)?(\S.*?)\s+(?:on|across|against)\s+(?=\S)",
    re.ASCII,
)
_DESIRED_RE = re.compile(r"\bdesired\s+(?:count|capacity|size|tasks)\b", re.ASCII)
_NEGATIVE_COUNT_RE = re.compile(r"(?:\bto|=)\s*(-\s*\d{1,5})\b", re.ASCII)
_TO_COUNT_RE = re.compile(r"(?:\bto|=)\s*(\d{1,5})\b(?!\s*(?:gb|tb|mb|%))", re.ASCII)
_TARGET_ENTITIES = {
    "ecs": ResourceType.ECS_SERVICE,
    "asg_name": ResourceType.ASG,
    "db_name": ResourceType.RDS_INSTANCE,
    "secret": ResourceType.SECRET,
}
_SCALABLE = frozenset({ResourceType.ECS_SERVICE, ResourceType.ASG})
_FILTER_INTROS_RE = re.compile(r"\b(?:tagged|where|having|whose)\b")

# Phrases whose words are not resource nouns even though a word in them is.
_NOISE_PHRASES = frozenset(
    {
        "instance type",
        "instance types",
        "instance class",
        "instance size",
        "instance count",
        "server count",
        "machine learning",
        "machine type",
        "db engine",
        "database engine",
        "log group",
    }
)
_NAME_INTROS = frozenset({"named", "called", "name", "names", "id"})
_NAME_STOP = frozenset(
    {"a", "an", "the", "in", "on", "at", "to", "for", "with", "and", "or", "of", "from", "my", "our", "your"}
)
_NOT_TARGET_NAMES = _NAME_STOP | V.NOT_TARGET_NAMES
_BEHIND_LB_RE = re.compile(r" (?:behind|fronted by) (?:[a-z0-9-]+ ){0,3}?(?:alb|elb|nlb|load balancers?) ")
_VERSION_RE = re.compile(r" (?:to|version|v) (?:version )?v?(\d{1,2}(?:\.\d{1,2}){0,2}) ")
_SCOPE_FIELDS = frozenset({"action", "targets", "resources", "params.checks", "params.task", "request"})
_TEXTUAL = frozenset(
    {"feedback", "reviews", "tickets", "comments", "documents", "emails", "transcripts", "text", "messages"}
)
_ENGINE_PACKAGES = {"postgres": "postgresql", "aurora-postgresql": "postgresql", "aurora-mysql": "mysql"}
_NAMED_TYPES = frozenset(
    {
        ResourceType.S3_BUCKET,
        ResourceType.LAMBDA_FUNCTION,
        ResourceType.SQS_QUEUE,
        ResourceType.SNS_TOPIC,
        ResourceType.DYNAMODB_TABLE,
        ResourceType.EKS_CLUSTER,
        ResourceType.ECR_REPOSITORY,
    }
)
_SETUP_VERBS = frozenset({"set up", "setup", "deploy", "add", "configure", "install"})
_ALL_WORDS = frozenset({"all", "every", "each", "everything", "entire", "whole", "any"})
_VAGUE_SCOPE = frozenset({"some", "few", "several", "certain", "couple", "various", "stuff", "things"})
_DETERMINERS = frozenset({"the", "my", "our", "this", "that", "these", "those", "its", "their", "your"})
# Openers that make a request out of a question: "is it possible to create ...".
_REQUEST_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("is", "it", "possible", "to"),
    ("is", "there", "a", "way", "to"),
    ("would", "it", "be", "possible", "to"),
    ("i", "would", "like", "to"),
    ("i", "want", "to"),
    ("i", "need", "to"),
    ("we", "need", "to"),
    ("we", "want", "to"),
)
_SECURITY_CHECKS_LONGEST_FIRST = tuple(sorted(V.SECURITY_CHECKS.items(), key=lambda kv: -len(kv[0])))
_NOT_PLURAL = frozenset(
    {"eks", "ecs", "efs", "ebs", "sns", "sqs", "rds", "k8s", "aws", "kubernetes", "redis"}
)
_POLITE = frozenset(
    {
        "please",
        "pls",
        "plz",
        "kindly",
        "hey",
        "hi",
        "hello",
        "ok",
        "okay",
        "so",
        "now",
        "can",
        "could",
        "would",
    }
    | {"will", "you", "u", "we", "i", "just", "quickly"}
)


# --- small data holders ----------------------------------------------------------------------------


@dataclass
class _Entity:
    start: int
    end: int
    kind: str
    value: object


@dataclass
class _Tok:
    index: int
    start: int
    kind: str  # word | num | ent | res | node | noise
    text: str
    value: object = None
    plural: bool = False
    weak: bool = False  # "a"/"an" as a count
    vague: bool = False  # "some", "a few"
    length: int = 1  # words covered


@dataclass
class _Res:
    type: ResourceType
    index: int
    plural: bool = False
    count: int | None = None
    vague: bool = False
    names: list[str] = field(default_factory=list)
    instance_type: str | None = None
    instance_class: str | None = None
    engine: str | None = None
    engine_version: str | None = None
    storage_gb: int | None = None
    multi_az: bool | None = None
    node_count: int | None = None
    node_instance_type: str | None = None
    min_count: int | None = None
    max_count: int | None = None
    memory_mb: int | None = None
    implied: bool = False
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class _Pending:
    count: int | None = None
    count_index: int = -1
    weak: bool = False
    vague: bool = False
    itype: str | None = None
    itype_index: int = -1
    dbclass: str | None = None
    engine: tuple[str, str | None] | None = None

    def has_spec(self) -> bool:
        return self.itype is not None or self.dbclass is not None or self.engine is not None

    def clear(self) -> None:
        self.count = None
        self.count_index = -1
        self.weak = False
        self.vague = False
        self.itype = None
        self.itype_index = -1
        self.dbclass = None
        self.engine = None


# --- typo correction -------------------------------------------------------------------------------


def _vocabulary_words() -> frozenset[str]:
    words: set[str] = set()
    for table in (
        V.ACTION_PHRASES,
        V.RESOURCE_PHRASES,
        V.REGION_NAMES,
        V.CONSTRAINT_PHRASES,
        V.SECURITY_CHECKS,
        V.COMPLIANCE_CHECKS,
        V.ML_TASKS,
        V.OPERATIONS,
        V.ENGINE_WORDS,
        V.PACKAGES,
        V.FEATURE_WORDS,
        V.LOG_LEVELS,
        V.ENVIRONMENT_WORDS,
        V.CURRENCY_TOKENS,
        V.PERIOD_WORDS,
    ):
        for phrase in table:
            words.update(phrase.split())
    for group in (
        V.COST_WORDS,
        V.SECURITY_WORDS,
        V.MONITORING_WORDS,
        V.ML_WORDS,
        V.COMPLIANCE_WORDS,
        V.CONFIG_WORDS,
        V.NODE_WORDS,
        V.WEAK_CREATE,
    ):
        for phrase in group:
            words.update(phrase.split())
    words.update(
        {
            "instances",
            "region",
            "separate",
            "tagged",
            "named",
            "called",
            "budget",
            "maximum",
            "minimum",
            "storage",
            "availability",
            "environment",
            "behind",
            "across",
            "please",
            "could",
            "would",
            "should",
            "spend",
            "daily",
            "monthly",
            "hourly",
            "weekly",
            "recent",
            "customer",
            "customers",
            "access",
            "between",
            "under",
            "per",
        }
    )
    return frozenset(word for word in words if word.isascii() and word.isalpha() and len(word) >= 4)


_CORRECTION_TARGETS = _vocabulary_words()
_KNOWN_WORDS = _CORRECTION_TARGETS | V.COMMON_WORDS | frozenset(V.NUMBER_WORDS)
_TARGETS_BY_INITIAL: dict[str, tuple[str, ...]] = {}
for _word in sorted(_CORRECTION_TARGETS):
    _TARGETS_BY_INITIAL.setdefault(_word[0], ())
    _TARGETS_BY_INITIAL[_word[0]] += (_word,)


def _osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment edit distance (adjacent transpositions count 1), capped at limit+1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        row_min = cur[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, prev2[j - 2] + 1)
            cur[j] = value
            row_min = min(row_min, value)
        if row_min > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[len(b)]


@lru_cache(maxsize=4096)
def _correct_word(word: str) -> str | None:
    """The vocabulary word ``word`` is a typo of, or None."""
    if word in _KNOWN_WORDS or len(word) < 4:
        return None
    limit = 1 if len(word) < 8 else 2
    best: str | None = None
    best_distance = limit + 1
    for target in _TARGETS_BY_INITIAL.get(word[0], ()):
        distance = _osa_distance(word, target, limit)
        if distance < best_distance:
            best, best_distance = target, distance
    if best is None or best_distance > limit:
        return None
    # A plural or verb form of a known word is not a typo ("scans" for "scan").
    if word.rstrip("s") == best or word.rstrip("ed") == best:
        return None
    return best


# --- text preparation ------------------------------------------------------------------------------


def _prepare(text: str) -> tuple[str, str]:
    """(source, lower): accents removed, quotes straightened; ``lower`` aligned with ``source``."""
    decomposed = unicodedata.normalize("NFKD", text)
    chars: list[str] = []
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        if char in "\u2018\u2019\u201b\u2032":
            char = "'"
        elif char in "\u201c\u201d\u201f\u2033":
            char = '"'
        elif char in "\u2013\u2014\u2212":
            char = "-"
        elif char in "\u00a0\u2009\u202f\t\r\n":
            char = " "
        chars.append(char)
    source = "".join(chars)
    lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in source)
    return source, lower


def _correct_typos(source: str, lower: str) -> tuple[str, str, list[str]]:
    notes: list[str] = []
    pieces_src: list[str] = []
    pieces_low: list[str] = []
    last = 0
    for match in _WORD_FOR_TYPO_RE.finditer(lower):
        word = match.group(1)
        before = lower[max(0, match.start() - 30) : match.start()].split()
        previous_word = before[-1] if before else ""
        named = previous_word in _NAME_INTROS or previous_word in V.NAME_NOUNS
        fixed = None if named else _correct_word(word)
        if fixed is not None:
            pieces_src.append(source[last : match.start(1)])
            pieces_low.append(lower[last : match.start(1)])
            pieces_src.append(fixed)
            pieces_low.append(fixed)
            last = match.end(1)
            notes.append(f"read '{word}' as '{fixed}'")
    if not notes:
        return source, lower, notes
    pieces_src.append(source[last:])
    pieces_low.append(lower[last:])
    return "".join(pieces_src), "".join(pieces_low), notes


# --- the parse context -----------------------------------------------------------------------------


def _blank(source: str, lower: str, spans: list[tuple[int, int]]) -> tuple[str, str]:
    """Both texts with ``spans`` replaced by spaces (alignment kept), so nothing in them is read."""
    for start, end in spans:
        gap = " " * (end - start)
        source = source[:start] + gap + source[end:]
        lower = lower[:start] + gap + lower[end:]
    return source, lower


def _command_span(lower: str) -> tuple[int, int] | None:
    match = _COMMAND_RE.search(lower)
    if match is None:
        return None
    start, end = match.span(1)
    if end - start >= 2 and lower[start] == lower[end - 1] and lower[start] in "'\"":
        start, end = start + 1, end - 1  # run 'free -m' on ...
    return (start, end) if lower[start:end].strip() else None


class _Parse:
    def __init__(self, text: str, default_region: str | None, *, read_command: bool = False) -> None:
        self.raw = text
        self.default_region = default_region
        self.assumptions: list[str] = []
        self.ambiguities: list[Ambiguity] = []
        truncated = text[:MAX_TEXT]
        if len(text) > MAX_TEXT:
            self.assumptions.append(f"request truncated to {MAX_TEXT} characters")
        source, lower = _prepare(truncated)
        # code and instructions to the system are never read as intent (agents.screening)
        unread = screening.code_spans(lower) + screening.instruction_spans(lower)
        source, lower = _blank(source, lower, unread)
        # the command of a run-command, taken as written (before typo correction) and then blanked
        self.command: str | None = None
        span = _command_span(lower) if read_command else None
        if span is not None:
            self.command = source[span[0] : span[1]].strip()
            source, lower = _blank(source, lower, [span])
        self.time_range = timerange.find(source)
        source, lower, self.corrections = _correct_typos(source, lower)
        self.src = source
        self.low = lower
        self.mask = list(lower)
        self.entities: list[_Entity] = []

    # -- span helpers --

    def _free(self, start: int, end: int) -> bool:
        return all(self.mask[i] != "\0" for i in range(start, end))

    def _take(self, start: int, end: int, kind: str, value: object) -> None:
        for i in range(start, end):
            self.mask[i] = "\0"
        self.entities.append(_Entity(start, end, kind, value))

    def _masked(self) -> str:
        return "".join(self.mask)

    def _orig(self, start: int, end: int) -> str:
        text = self.src[start:end]
        return text if text.isascii() else self.low[start:end]

    # -- extraction passes (each blanks what it used) --

    def extract(self) -> None:
        self._normalise_numbers()
        for match in _QUOTED_RE.finditer(self._masked()):
            group = 1 if match.group(1) is not None else 2
            value = self._orig(match.start(group), match.end(group))
            if value.strip():
                self._take(match.start(), match.end(), "name", value)
        for match in _S3_URI_RE.finditer(self._masked()):
            self._take(match.start(), match.end(), "s3uri", match.group(1))
        self._extract_targets()
        for match in _NEGATIVE_COUNT_RE.finditer(self._masked()):
            self._take(match.start(1), match.end(1), "negative_count", match.group(1))
        self._extract_budget()
        self._extract_storage()
        self._extract_windows()
        self._extract_regions()
        self._extract_tags()
        self._extract_instance_types()
        for match in _ENGINE_RE.finditer(self._masked()):
            engine = V.ENGINE_WORDS.get(re.sub(r"[\s\-]+", " ", match.group(1)), None)
            engine = engine or V.ENGINE_WORDS.get(match.group(1).replace(" ", ""), "postgres")
            self._take(match.start(), match.end(), "engine", (engine, match.group(2)))
        for pattern in _RANGE_RES:
            for match in pattern.finditer(self._masked()):
                low, high = int(match.group(1)), int(match.group(2))
                if low <= high:
                    self._take(match.start(), match.end(), "range", (low, high))
        for match in _PORT_RE.finditer(self._masked()):
            self._take(match.start(), match.end(), "port", match.group(0))
        for match in _AZ_RE.finditer(self._masked()):
            self._take(match.start(), match.end(), "multi_az", True)

    def _normalise_numbers(self) -> None:
        masked = self._masked()
        for match in _NODE_HYPHEN_RE.finditer(masked):
            self.mask[match.start()] = " "
        for match in _TIMES_RE.finditer(masked):
            self.mask[match.end() - 1] = " "  # "3x t3.micro" -> "3  t3.micro"

    def _extract_budget(self) -> None:
        found: list[tuple[int, int, Budget | None]] = []
        for pattern in _BUDGET_RES:
            for match in pattern.finditer(self._masked()):
                if not self._free(match.start(), match.end()):
                    continue
                whole = match.group(0)
                currency = self._currency_in(whole)
                amount = _amount(match.group(1), match.group(2))
                if currency is None or amount is None:
                    continue
                period = _period(match.group(3)) if match.group(3) else None
                if period is None:
                    before = _PERIOD_BEFORE_RE.search(self.low[max(0, match.start() - 40) : match.start()])
                    if before:
                        period = _period(before.group(1).split()[-1])
                if period is None:
                    period = Period.MONTH
                    self.assumptions.append("budget period not given; taken as per month")
                budget = Budget(amount=amount, currency=currency, period=period)
                self._take(match.start(), match.end(), "budget", budget)
                found.append((match.start(), match.end(), budget))
        if not found:
            match = _BUDGET_NO_CURRENCY_RE.search(self._masked())
            if match:
                self._take(match.start(1), match.end(), "budget_nocur", match.group(1))
                self.ambiguities.append(
                    Ambiguity(
                        field="budget.currency",
                        question=f"Which currency is the budget of {match.group(1)} in?",
                        options=[c.value for c in Currency],
                    )
                )

    @staticmethod
    def _currency_in(text: str) -> Currency | None:
        for symbol in ("₹", "$", "€", "£"):
            if symbol in text:
                return Currency(V.CURRENCY_TOKENS[symbol])
        for word in re.findall(r"[a-z]+\.?", text):
            code = V.CURRENCY_TOKENS.get(word) or V.CURRENCY_TOKENS.get(word.rstrip("."))
            if code:
                return Currency(code)
        return None

    def _extract_storage(self) -> None:
        for match in _STORAGE_RE.finditer(self._masked()):
            number = float(match.group(1))
            unit = match.group(2)
            gigabytes = number * 1024 if unit.startswith(("t", "ter")) else number
            if match.group(3):
                memory = int(gigabytes * 1024)
                if 1 <= memory <= 1_048_576:
                    self._take(match.start(), match.end(), "memory", memory)
                continue
            value = round(gigabytes)
            if 1 <= value <= 10_000_000:
                self._take(match.start(), match.end(), "storage", value)
        for match in _MEMORY_MB_RE.finditer(self._masked()):
            value = int(match.group(1))
            if 1 <= value <= 1_048_576:
                self._take(match.start(), match.end(), "memory", value)

    def _extract_windows(self) -> None:
        for match in _WINDOW_RE.finditer(self._masked()):
            quantity = _word_number(match.group(1)) if match.group(1) else 1
            window = _window(quantity, match.group(2))
            if window:
                self._take(match.start(), match.end(), "window", window)
        for match in _WINDOW_SHORT_RE.finditer(self._masked()):
            window = _window(int(match.group(1)), match.group(2))
            if window:
                self._take(match.start(), match.end(), "window", window)

    def _extract_regions(self) -> None:
        for match in _REGION_CODE_RE.finditer(self._masked()):
            gov = "gov-" if match.group(2) else ""
            code = f"{match.group(1)}-{gov}{match.group(3)}-{int(match.group(4))}"
            self._take(match.start(), match.end(), "region", code)
        for match in _REGION_NAME_RE.finditer(self._masked()):
            self._take(match.start(), match.end(), "region", V.REGION_NAMES[match.group(1)])

    def _name(self, match: re.Match[str], group: int) -> str | None:
        value = match.group(group)
        if value is None or value in _NOT_TARGET_NAMES:
            return None
        return self._orig(match.start(group), match.end(group))

    def _extract_targets(self) -> None:
        """Operation targets as named: ECS service (+ cluster), ASG, database, secret; tag keys."""
        for pattern in _UNTAG_RES:
            for match in pattern.finditer(self._masked()):
                written = self._orig(match.start(1), match.end(1))
                keys = [
                    k for k in re.split(r"\s*,\s*|\s+and\s+", written) if k.lower() not in _NOT_TARGET_NAMES
                ]
                if keys and self._free(match.start(1), match.end(1)):
                    self._take(match.start(1), match.end(1), "tag_keys", keys)
        if _LIVE_VERB_RE.search(self._masked()):
            for match in _ECS_REVERSED_RE.finditer(self._masked()):
                service, cluster = self._name(match, 2), self._name(match, 1)
                if service and cluster:
                    self._take(match.start(), match.end(), "ecs", (service, cluster))
            for match in _ECS_RE.finditer(self._masked()):
                service, cluster = self._name(match, 1), self._name(match, 2)
                if service is None:
                    continue
                end = match.end() if cluster else match.end(1)
                self._take(match.start(), end, "ecs", (service, cluster))
            for match in _ECS_NAME_FIRST_RE.finditer(self._masked()):
                service, cluster = self._name(match, 1), self._name(match, 2)
                if service is not None and service.lower() not in _NOT_SERVICE_NAMES:
                    self._take(match.start(), match.end(), "ecs", (service, cluster))
            for pattern, kind in ((_ASG_RE, "asg_name"), (_DB_NAME_RE, "db_name")):
                for match in pattern.finditer(self._masked()):
                    name = self._name(match, 1)
                    if name is not None and name.lower() not in V.ENGINE_WORDS:
                        self._take(match.start(), match.end(), kind, (name, None))
        for match in _SECRET_RE.finditer(self._masked()):
            name = self._name(match, 1)
            if name is not None:
                self._take(match.start(), match.end(), "secret", (name.rstrip("."), None))

    def _extract_tags(self) -> None:
        masked = self._masked()
        for pattern in (_TAG_WORDS_RE, _TAG_WITH_RE):
            for match in pattern.finditer(masked):
                key_group = match.lastindex - 1 if match.lastindex else 1
                key = self._orig(match.start(key_group), match.end(key_group))
                value = self._orig(match.start(key_group + 1), match.end(key_group + 1))
                if self._free(match.start(), match.end()):
                    self._take(match.start(), match.end(), "tag", (key, value, match.start()))
        for match in _TAG_KV_RE.finditer(self._masked()):
            key = self._orig(match.start(1), match.end(1))
            if key.lower() in {"s3", "http", "https", "arn", "region", "budget", "e.g", "i.e", "note", "ps"}:
                continue
            value = self._orig(match.start(2), match.end(2))
            self._take(match.start(), match.end(), "tag", (key, value, match.start()))

    def _extract_instance_types(self) -> None:
        for match in _DB_CLASS_RE.finditer(self._masked()):
            self._take(match.start(), match.end(), "dbclass", f"db.{match.group(1)}.{match.group(2)}")
        for pattern in (_ITYPE_RE, _ITYPE_SPACED_RE):
            for match in pattern.finditer(self._masked()):
                self._take(match.start(), match.end(), "itype", f"{match.group(1)}.{match.group(2)}")
        for match in _ITYPE_REVERSED_RE.finditer(self._masked()):
            self._take(match.start(), match.end(), "itype", f"{match.group(2)}.{match.group(1)}")

    # -- tokens --

    def tokenize(self) -> list[_Tok]:
        masked = self._masked()
        raw: list[_Tok] = []
        for match in _TOKEN_RE.finditer(masked):
            raw.append(_Tok(0, match.start(), "word", match.group(0)))
        for entity in self.entities:
            raw.append(_Tok(0, entity.start, "ent", entity.kind, entity.value))
        raw.sort(key=lambda tok: tok.start)
        words = [tok.text if tok.kind == "word" else "\0" for tok in raw]
        tokens: list[_Tok] = []
        i = 0
        while i < len(raw):
            tok = raw[i]
            if tok.kind != "word":
                tokens.append(tok)
                i += 1
                continue
            matched = self._match_phrase(words, i)
            if matched is not None:
                kind, length, value, extra = matched
                phrase = " ".join(words[i : i + length])
                new = _Tok(0, tok.start, kind, phrase, value, length=length)
                if kind == "res":
                    last_word = phrase.rsplit(" ", 1)[-1]
                    new.plural = last_word.endswith("s") and last_word not in _NOT_PLURAL
                if kind == "num":
                    new.weak = extra == "weak"
                    new.vague = extra == "vague"
                tokens.append(new)
                i += length
                continue
            tokens.append(tok)
            i += 1
        for index, tok in enumerate(tokens):
            tok.index = index
        return tokens

    @staticmethod
    def _match_phrase(words: list[str], i: int) -> tuple[str, int, object, str] | None:
        for length in (4, 3, 2, 1):
            if i + length > len(words):
                continue
            chunk = words[i : i + length]
            if "\0" in chunk:
                continue
            phrase = " ".join(chunk)
            if phrase in _NOISE_PHRASES:
                return ("noise", length, phrase, "")
            if phrase in V.QUANTITY_PHRASES:
                return ("num", length, V.QUANTITY_PHRASES[phrase], "")
            if length == 2 and chunk[0] == "a" and chunk[1] in V.VAGUE_QUANTITIES:
                return ("num", 2, None, "vague")
            if phrase in V.RESOURCE_PHRASES:
                return ("res", length, V.RESOURCE_PHRASES[phrase], "")
            if phrase in V.NODE_WORDS or phrase in {"worker nodes", "worker node", "node groups"}:
                return ("node", length, None, "")
            if length == 2 and chunk[0] in V.TENS and chunk[1] in V.NUMBER_WORDS:
                unit = V.NUMBER_WORDS[chunk[1]]
                if 0 < unit < 10:
                    return ("num", 2, V.NUMBER_WORDS[chunk[0]] + unit, "")
            if length == 1:
                word = chunk[0]
                number = _token_number(word)
                if number is not None:
                    return ("num", 1, number, "")
                if word in ("a", "an"):
                    return ("num", 1, 1, "weak")
                if word in V.VAGUE_QUANTITIES:
                    return ("num", 1, None, "vague")
        return None


# --- helpers ---------------------------------------------------------------------------------------


def _amount(number: str, suffix: str | None) -> Decimal | None:
    try:
        value = Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None
    multiplier = {
        "k": 1000,
        "l": 100_000,
        "lakh": 100_000,
        "lakhs": 100_000,
        "lac": 100_000,
        "lacs": 100_000,
        "cr": 10_000_000,
        "crore": 10_000_000,
        "crores": 10_000_000,
        "m": 1_000_000,
        "mn": 1_000_000,
        "million": 1_000_000,
    }.get(suffix or "", 1)
    value = (value * multiplier).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    if value <= 0 or value >= Decimal("1e13"):
        return None
    return value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()


def _period(word: str | None) -> Period | None:
    if not word:
        return None
    word = word.strip().rstrip(".")
    if word in V.PERIOD_WORDS:
        return V.PERIOD_WORDS[word]
    for key in ("hour", "day", "month"):
        if word.startswith(key):
            return Period(key)
    if word in ("hrs",):
        return Period.HOUR
    return V.PERIOD_WORDS.get(word.rstrip("s"))


def _word_number(text: str) -> int:
    text = text.strip()
    if text.isdigit():
        return int(text)
    if text in ("a", "an"):
        return 1
    if text.replace("-", " ") == "twenty four":
        return 24
    return V.NUMBER_WORDS.get(text, 1)


def _window(quantity: int, unit: str) -> str | None:
    if quantity <= 0:
        return None
    unit = unit.lower()
    if unit.startswith("min") or unit == "m":
        value, suffix = quantity, "m"
    elif unit.startswith("h"):
        value, suffix = quantity, "h"
    elif unit.startswith("d"):
        value, suffix = quantity, "d"
    elif unit.startswith("w"):
        value, suffix = quantity * 7, "d"
    elif unit.startswith("month"):
        value, suffix = quantity * 30, "d"
    else:
        return None
    if value > 999_999:
        return None
    return f"{value}{suffix}"


def _token_number(word: str) -> int | None:
    if word.isdigit() and len(word) <= 4:
        return int(word)
    if word in V.NUMBER_WORDS and word != "dozen":
        return V.NUMBER_WORDS[word]
    if "-" in word:
        head, _, tail = word.partition("-")
        if head in V.TENS and tail in V.NUMBER_WORDS and 0 < V.NUMBER_WORDS[tail] < 10:
            return V.NUMBER_WORDS[head] + V.NUMBER_WORDS[tail]
    return None


def _is_name_like(word: str) -> bool:
    if not _NAME_LIKE_RE.match(word) or "'" in word:
        return False
    if not any(ch in word for ch in "-_.0123456789"):
        return False
    if word.replace(".", "").isdigit():
        return False
    return word not in _VOCAB_TOKENS


_VOCAB_TOKENS: frozenset[str] = frozenset(
    phrase
    for table in (V.RESOURCE_PHRASES, V.PACKAGES, V.CONSTRAINT_PHRASES, V.ENGINE_WORDS, V.FEATURE_WORDS)
    for phrase in table
) | frozenset(
    {"non-prod", "pre-prod", "x86", "arm64", "e.g", "i.e", "24x7", "auto-scaling", "policy", "policies"}
)


def _is_plain_name(word: str) -> bool:
    """An unhyphenated word right after a noun that is usually named ("lambda thumbnailer")."""
    return (
        word.isalpha()
        and len(word) >= 3
        and word not in _KNOWN_WORDS
        and word not in _VOCAB_TOKENS
        and not word.endswith("ly")
    )


def _type_from_name(name: str) -> ResourceType:
    lowered = name.lower()
    if lowered.endswith(("-db", "_db", "-rds", "-database", "-postgres", "-mysql", "-pg")):
        return R.RDS_INSTANCE
    if lowered.endswith(("-bucket", "-logs", "-raw", "-data", "-assets", "-backups")):
        return R.S3_BUCKET
    if lowered.endswith(("-fn", "-func", "-function", "-lambda")):
        return R.LAMBDA_FUNCTION
    if lowered.endswith(("-eks", "-cluster", "-k8s")):
        return R.EKS_CLUSTER
    if lowered.endswith(("-asg",)):
        return R.ASG
    if lowered.endswith(("-alb", "-lb")):
        return R.ALB
    return R.EC2_INSTANCE


def _words_of(tokens: list[_Tok]) -> list[str]:
    words: list[str] = []
    for tok in tokens:
        if tok.kind in ("word", "res", "node", "noise", "num"):
            words.extend(tok.text.split())
    return words


# --- assembly --------------------------------------------------------------------------------------


class _Assembler:
    def __init__(self, parse_state: _Parse, tokens: list[_Tok]) -> None:
        self.p = parse_state
        self.tokens = tokens
        self.words = _words_of(tokens)
        self.word_set = frozenset(self.words)
        self.text = " " + " ".join(self.words) + " "
        self.ents: dict[str, list[_Entity]] = {}
        for entity in sorted(parse_state.entities, key=lambda e: e.start):
            self.ents.setdefault(entity.kind, []).append(entity)

    def has(self, *phrases: str) -> bool:
        return any(f" {phrase} " in self.text for phrase in phrases)

    # -- action --

    def action(self) -> tuple[Action | None, str | None]:
        """(action, verb phrase). The first strong verb decides; a question opener ("are",
        "is", "do", "how") decides when the text is a question; "need"/"want" decide only alone."""
        strong: tuple[int, Action, str] | None = None
        weak_create: tuple[int, str] | None = None
        weak_query: tuple[int, str] | None = None
        words = self.words
        first_content = 0
        while first_content < len(words):
            if words[first_content] in _POLITE:
                first_content += 1
                continue
            prefix = next(
                (p for p in _REQUEST_PREFIXES if tuple(words[first_content : first_content + len(p)]) == p),
                None,
            )
            if prefix is None:
                break
            first_content += len(prefix)
        i = first_content
        while i < len(words):
            hit: tuple[int, str] | None = None
            for length in (4, 3, 2, 1):
                chunk = words[i : i + length]
                phrase = " ".join(chunk)
                if len(chunk) == length and (phrase in V.ACTION_PHRASES or phrase in V.WEAK_CREATE):
                    hit = (length, phrase)
                    break
            if hit is None:
                i += 1
                continue
            length, phrase = hit
            after_determiner = i > 0 and words[i - 1] in _DETERMINERS | {"a", "an"}
            following = words[i + length] if i + length < len(words) else ""
            if phrase == "get" and (following in ("a", "an") or _token_number(following) is not None):
                phrase = "get me"  # "can I get 3 servers" asks for servers, not for information
            if phrase in V.WEAK_CREATE:
                weak_create = weak_create or (i, phrase)
            elif phrase in V.WEAK_QUERY:
                if i == first_content and weak_query is None:
                    weak_query = (i, phrase)
            elif strong is None and not (length == 1 and after_determiner):
                strong = (i, V.ACTION_PHRASES[phrase], phrase)
            i += length
        question = self.p.low.rstrip().endswith("?")
        if weak_query is not None and (strong is None or question or weak_query[1] in ("how", "any")):
            if strong is not None and strong[1] == Action.QUERY:
                return strong[1], strong[2]
            return Action.QUERY, weak_query[1]
        if strong is not None:
            return strong[1], strong[2]
        if weak_create is not None:
            return Action.CREATE, weak_create[1]
        if question:
            return Action.QUERY, None
        return None, None

    # -- resources --

    def resources(self, action: Action) -> tuple[list[_Res], list[str]]:
        creating = action == Action.CREATE
        res: list[_Res] = []
        orphan_names: list[str] = []
        pending = _Pending()
        pending_nodes: tuple[int | None, str | None] | None = None
        last: _Res | None = None
        tokens = self.tokens
        consumed_names: set[int] = set()
        skipped: set[int] = set()

        def flush_pending_as(kind: ResourceType, index: int) -> _Res:
            new = _Res(type=kind, index=index, implied=True)
            self._apply_pending(new, pending, index, creating)
            res.append(new)
            pending.clear()
            return new

        for tok in tokens:
            i = tok.index
            if i in skipped:
                continue
            if tok.kind == "num":
                if pending.has_spec():
                    last = flush_pending_as(self._spec_type(pending), i)
                if (
                    action in (Action.MODIFY, Action.OPERATE)
                    and last is None
                    and i > 1
                    and tokens[i - 1].kind == "word"
                    and tokens[i - 1].text == "to"
                    and tokens[i - 2].kind == "word"
                    and _is_name_like(tokens[i - 2].text)
                ):
                    name_tok = tokens[i - 2]
                    name = self.p._orig(name_tok.start, name_tok.start + len(name_tok.text))
                    last = _Res(type=_type_from_name(name), index=i - 2, names=[name])
                    res.append(last)
                    consumed_names.add(i - 2)
                if (
                    action in (Action.MODIFY, Action.OPERATE)
                    and last is not None
                    and i > 0
                    and tokens[i - 1].kind == "word"
                    and tokens[i - 1].text in ("to", "by")
                    and tok.value is not None
                    and not tok.weak
                ):
                    following = tokens[i + 1] if i + 1 < len(tokens) else None
                    if following is None or following.kind in ("res", "node", "word"):
                        # "scale the asg to 6 instances", "grow prod-eks to 5 nodes": a desired count
                        if last.type == R.EKS_CLUSTER:
                            last.node_count = int(tok.value)  # type: ignore[arg-type]
                        else:
                            last.count = int(tok.value)  # type: ignore[arg-type]
                        if following is not None and following.kind in ("res", "node"):
                            skipped.add(i + 1)
                        continue
                pending.count = tok.value  # type: ignore[assignment]
                pending.count_index = i
                pending.weak = tok.weak
                pending.vague = tok.vague
            elif tok.kind == "ent" and tok.text == "itype":
                if pending.itype is not None:
                    last = flush_pending_as(R.EC2_INSTANCE, i)
                pending.itype = tok.value  # type: ignore[assignment]
                pending.itype_index = i
            elif tok.kind == "ent" and tok.text in _TARGET_ENTITIES:
                name, cluster = tok.value  # type: ignore[misc]
                last = _Res(type=_TARGET_ENTITIES[tok.text], index=i, names=[str(name)])
                if cluster:
                    last.attributes["cluster"] = str(cluster)
                if res and res[-1].type == last.type and not res[-1].names and res[-1].index == i - 1:
                    res.pop()  # "the asg" + "asg web-asg" is one ASG
                res.append(last)
                pending.clear()
            elif tok.kind == "ent" and tok.text == "dbclass":
                pending.dbclass = tok.value  # type: ignore[assignment]
            elif tok.kind == "ent" and tok.text == "engine":
                pending.engine = tok.value  # type: ignore[assignment]
            elif tok.kind == "node":
                count = pending.count if pending.count is not None and not pending.weak else None
                itype = pending.itype
                target = last if last is not None and last.type == R.EKS_CLUSTER else None
                if target is None:
                    target = next((r for r in reversed(res) if r.type == R.EKS_CLUSTER), None)
                if target is not None:
                    if count is not None:
                        target.node_count = count
                    if itype is not None:
                        target.node_instance_type = itype
                else:
                    pending_nodes = (count, itype)
                pending.clear()
            elif tok.kind == "res":
                kind: ResourceType = tok.value  # type: ignore[assignment]
                if last is not None and last.type == kind and last.index == i - 1:
                    last.plural = last.plural or tok.plural
                    last.index = i
                    continue
                if (
                    kind == R.EC2_INSTANCE
                    and tok.text in ("instance", "instances")
                    and last is not None
                    and last.type in (R.RDS_INSTANCE, R.ASG, R.ELASTICACHE_CLUSTER)
                    and self._only_specs_between(last.index, i)
                ):
                    saved = last.count
                    self._apply_pending(last, pending, i, creating)
                    last.count = saved  # "an ASG of 3 instances": the 3 is capacity, not ASG count
                    pending.clear()
                    last.index = i
                    continue
                if kind in (R.SUBNET, R.VPC) and i > 0 and self._placement(i):
                    continue
                if pending.engine is not None and kind not in (R.RDS_INSTANCE,):
                    last = flush_pending_as(R.RDS_INSTANCE, i)
                elif pending.itype is not None and kind not in (
                    R.EC2_INSTANCE,
                    R.ASG,
                    R.EKS_CLUSTER,
                    R.RDS_INSTANCE,
                    R.ELASTICACHE_CLUSTER,
                ):
                    last = flush_pending_as(R.EC2_INSTANCE, i)
                new = _Res(type=kind, index=i, plural=tok.plural)
                if action == Action.OPERATE and kind == R.EC2_INSTANCE:
                    role = self._role_before(i)
                    if role is not None:
                        new.attributes["role"] = role
                self._apply_pending(new, pending, i, creating)
                pending.clear()
                if kind == R.EKS_CLUSTER and pending_nodes is not None:
                    new.node_count, new.node_instance_type = pending_nodes
                    pending_nodes = None
                res.append(new)
                last = new
                self._names_after(new, i, consumed_names)
                self._names_before(new, i, consumed_names)
        # leftovers
        if pending.itype is not None:
            target = next(
                (r for r in reversed(res) if r.type in V.TAKES_INSTANCE_TYPE and r.instance_type is None),
                None,
            )
            if target is not None:
                target.instance_type = pending.itype
            else:
                eks = next(
                    (r for r in reversed(res) if r.type == R.EKS_CLUSTER and r.node_instance_type is None),
                    None,
                )
                rds = next(
                    (
                        r
                        for r in reversed(res)
                        if r.type in (R.RDS_INSTANCE, R.ELASTICACHE_CLUSTER) and r.instance_class is None
                    ),
                    None,
                )
                if eks is not None:
                    eks.node_instance_type = pending.itype
                elif rds is not None:
                    rds.instance_class = _db_class(pending.itype, rds.type)
                else:
                    flush_pending_as(R.EC2_INSTANCE, len(tokens))
            pending.itype = None
        if pending.dbclass is not None or pending.engine is not None:
            rds_target = next((r for r in reversed(res) if r.type == R.RDS_INSTANCE), None)
            if rds_target is not None:
                if pending.dbclass and rds_target.instance_class is None:
                    rds_target.instance_class = pending.dbclass
                if pending.engine and rds_target.engine is None:
                    rds_target.engine, rds_target.engine_version = pending.engine
            else:
                flush_pending_as(R.RDS_INSTANCE, len(tokens))
        if pending_nodes is not None:
            eks = next((r for r in res if r.type == R.EKS_CLUSTER), None)
            if eks is None:
                eks = _Res(type=R.EKS_CLUSTER, index=len(tokens), implied=True)
                res.append(eks)
            eks.node_count, eks.node_instance_type = pending_nodes
        # names not next to a resource noun
        for tok in tokens:
            if tok.index in consumed_names:
                continue
            if tok.kind == "ent" and tok.text == "s3uri":
                bucket = next((r for r in res if r.type == R.S3_BUCKET), None)
                if bucket is None:
                    bucket = _Res(type=R.S3_BUCKET, index=tok.index, implied=True)
                    res.append(bucket)
                bucket.names.append(str(tok.value))
            elif tok.kind == "ent" and tok.text == "name":
                orphan_names.append(str(tok.value))
            elif tok.kind == "word" and _is_name_like(tok.text):
                prev = tokens[tok.index - 1] if tok.index > 0 else None
                if (
                    prev is not None and prev.kind == "word" and prev.text in _NAME_INTROS
                ) or action != Action.CREATE:
                    orphan_names.append(self.p._orig(tok.start, tok.start + len(tok.text)))
        return res, orphan_names

    def _role_before(self, i: int) -> str | None:
        """ "web" in "the staging web servers" (see ``V.ROLE_WORDS``)."""
        prev = self.tokens[i - 1] if i > 0 else None
        if prev is not None and prev.kind == "word" and prev.text in V.ROLE_WORDS:
            return prev.text
        return None

    def _only_specs_between(self, first: int, last: int) -> bool:
        for tok in self.tokens[first + 1 : last]:
            if tok.kind in ("ent", "num"):
                continue
            if tok.kind == "word" and tok.text in ("of", "with", "using", "running", "on", "type"):
                continue
            return False
        return True

    def _placement(self, i: int) -> bool:
        """A subnet/VPC named as where things go ("in private subnets"), not as something to create."""
        for tok in reversed(self.tokens[max(0, i - 3) : i]):
            if tok.kind == "word" and tok.text in ("in", "into", "inside", "within", "across"):
                return True
            if tok.kind == "num" and not tok.weak:
                return False
        return False

    def _spec_type(self, pending: _Pending) -> ResourceType:
        if pending.engine is not None or pending.dbclass is not None:
            return R.RDS_INSTANCE
        return R.EC2_INSTANCE

    def _apply_pending(self, new: _Res, pending: _Pending, index: int, creating: bool) -> None:
        anchor = pending.itype_index if pending.itype_index >= 0 else index
        if pending.count_index >= 0 and 0 <= anchor - pending.count_index <= 5:
            if pending.vague:
                new.vague = True
            elif pending.count is not None and (creating or not pending.weak):
                new.count = int(pending.count)
        if pending.itype is not None:
            if new.type in V.TAKES_INSTANCE_TYPE:
                new.instance_type = pending.itype
            elif new.type == R.EKS_CLUSTER:
                new.node_instance_type = pending.itype
            elif new.type in (R.RDS_INSTANCE, R.ELASTICACHE_CLUSTER):
                new.instance_class = _db_class(pending.itype, new.type)
        if pending.dbclass is not None and new.type == R.RDS_INSTANCE:
            new.instance_class = pending.dbclass
        if pending.engine is not None and new.type == R.RDS_INSTANCE:
            new.engine, new.engine_version = pending.engine

    def _names_after(self, new: _Res, i: int, consumed: set[int]) -> None:
        tokens = self.tokens
        j = i + 1
        expect_name = False
        while j < len(tokens):
            tok = tokens[j]
            if tok.kind == "word" and tok.text in _NAME_INTROS:
                expect_name = True
                j += 1
                continue
            if tok.kind == "ent" and tok.text in ("name", "s3uri"):
                new.names.append(str(tok.value))
                consumed.add(j)
            elif tok.kind == "word" and (
                _is_name_like(tok.text)
                or (expect_name and tok.text not in _NAME_STOP and tok.text.isascii())
                or (j == i + 1 and new.type in _NAMED_TYPES and _is_plain_name(tok.text))
            ):
                new.names.append(self.p._orig(tok.start, tok.start + len(tok.text)))
                consumed.add(j)
            elif tok.kind == "word" and tok.text in ("and", ",", "or") and new.names:
                j += 1
                continue
            else:
                break
            expect_name = False
            j += 1

    def _names_before(self, new: _Res, i: int, consumed: set[int]) -> None:
        j = i - 1
        tokens = self.tokens
        if j >= 0 and tokens[j].kind == "ent" and tokens[j].text == "name" and j not in consumed:
            new.names.insert(0, str(tokens[j].value))
            consumed.add(j)
            return
        if j >= 0 and tokens[j].kind == "word" and _is_name_like(tokens[j].text) and j not in consumed:
            tok = tokens[j]
            new.names.insert(0, self.p._orig(tok.start, tok.start + len(tok.text)))
            consumed.add(j)

    # -- domain --

    def domain(self, action: Action, resources: list[_Res]) -> Domain:
        words = self.word_set
        types = {r.type for r in resources}
        if action == Action.OPERATE:
            if words & V.CONFIG_WORDS or words & set(V.FEATURE_WORDS):
                return Domain.CONFIG
            return Domain.OPS
        if action in (Action.CREATE, Action.MODIFY, Action.DESTROY):
            if types and types <= {R.CLOUDWATCH_ALARM, R.LOG_GROUP}:
                return Domain.MONITORING
            if R.SAGEMAKER_ENDPOINT in types or (words & V.ML_STRONG and not types - {R.S3_BUCKET}):
                return Domain.ML
            if (
                not types
                and (words & {"alert", "alerts", "notification", "notify"})
                and "budget" in self.ents
            ):
                return Domain.COST
            if not types and words & {"alert", "alerts", "alarm", "alarms", "dashboard"}:
                return Domain.MONITORING
            return Domain.INFRA
        # query
        if self._is_compliance():
            return Domain.COMPLIANCE
        if self._is_ml():
            return Domain.ML
        if self._security_checks() or words & (V.SECURITY_WORDS - {"open", "risk", "risks"}):
            return Domain.SECURITY
        if words & V.COST_WORDS or self.has("how much"):
            return Domain.COST
        if words & V.MONITORING_WORDS or "window" in self.ents:
            return Domain.MONITORING
        return Domain.INFRA

    def _is_compliance(self) -> bool:
        words = self.word_set
        if words & (V.COMPLIANCE_WORDS - {"iso", "soc", "benchmark"}):
            return True
        if words & {"iso", "soc"} and words & {"27001", "2", "audit", "controls"}:
            return True
        return self.has(
            "missing tags", "missing tag", "without tags", "missing the", "without a", "without an"
        ) and ("tag" in words or "tags" in words)

    def _is_ml(self) -> bool:
        words = self.word_set
        if words & V.ML_STRONG or self.has("machine learning"):
            return True
        return bool(
            words & _TEXTUAL and words & ((V.ML_WORDS - _TEXTUAL - {"model"}) | {"analyze", "analyse"})
        )

    def _security_checks(self) -> list[str]:
        checks: list[str] = []
        for phrase, check in _SECURITY_CHECKS_LONGEST_FIRST:
            if self.has(phrase) and check not in checks:
                checks.append(check)
        if "port" in self.ents and "open_ports" not in checks:
            checks.append("open_ports")
        return checks


def _db_class(itype: str, kind: ResourceType) -> str | None:
    if kind == R.ELASTICACHE_CLUSTER:
        return None
    return f"db.{itype}"


# --- the public function ---------------------------------------------------------------------------


def parse(text: str, *, default_region: str | None = None) -> Intent:
    """Parse a plain-language request into an ``Intent``.

    Deterministic and side-effect free; never raises on any string (an unusable request comes back as a
    low-confidence query with an ``action`` ambiguity). ``default_region`` is the active config's region:
    used, and listed as an assumption, when the request names none; without it a create request gets a
    ``region`` ambiguity. Raises ``TypeError`` for a non-string and ``ValueError`` for a malformed
    ``default_region`` (both are caller bugs, not user input)."""
    if not isinstance(text, str):
        raise TypeError("parse() takes a string")
    if default_region is not None and not REGION_RE.match(default_region):
        raise ValueError(f"default_region is not an AWS region code: {default_region!r}")
    try:
        intent = _build(_Parse(text, default_region))
        if intent.operation == Operation.RUN_COMMAND:
            # read again with the command taken out, so its words are not read as intent
            with_command = _Parse(text, default_region, read_command=True)
            if with_command.command is not None:
                intent = _build(with_command)
        return screening.enforce(intent, screening.screen(text))
    except (ValidationError, ValueError, ArithmeticError) as exc:  # defence in depth; see tests
        return Intent(
            action=Action.QUERY,
            domain=Domain.INFRA,
            ambiguities=[
                Ambiguity(field="request", question="I could not read this request; could you rephrase it?")
            ],
            assumptions=[f"parser_error: {type(exc).__name__}"],
            confidence=0.0,
            raw_text=text[:10_000],
            parser=PARSER_NAME,
        )


def _build(state: _Parse) -> Intent:
    state.extract()
    tokens = state.tokenize()
    asm = _Assembler(state, tokens)
    assumptions = state.assumptions
    ambiguities = state.ambiguities
    words = asm.word_set

    action, verb = asm.action()
    no_action = action is None
    if action is None:
        # Terse requests: "3 t3.medium behind an ALB, ap-south-1" creates; "daily EC2 spend" asks.
        explicit_count = any(t.kind == "num" and t.value and not t.weak for t in tokens)
        if (
            "itype" in asm.ents
            or "dbclass" in asm.ents
            or (explicit_count and any(t.kind == "res" for t in tokens))
        ):
            action, no_action = Action.CREATE, False
            assumptions.append("no verb given; read as a request to create")
        elif asm._is_compliance() or asm._is_ml() or words & (V.COST_WORDS | V.MONITORING_WORDS):
            action, no_action = Action.QUERY, False
        else:
            action = Action.QUERY
    parts, orphan_names = asm.resources(action)
    first_action = action

    # ---- action refinements
    packages = [V.PACKAGES[w] for w in asm.words if w in V.PACKAGES]
    features = [V.FEATURE_WORDS[w] for w in asm.words if w in V.FEATURE_WORDS]
    has_itype = "itype" in asm.ents or "dbclass" in asm.ents
    configish = bool(set(packages) - {"redis", "postgresql", "mysql", "memcached", "nodejs", "python3"}) or (
        verb in ("install", "configure") and bool(packages)
    )
    only_servers = (
        all((r.type == R.EC2_INSTANCE and r.count is None) or r.implied for r in parts) if parts else True
    )
    if action == Action.CREATE and configish and not has_itype and only_servers and verb in _SETUP_VERBS:
        action, verb = Action.OPERATE, "install"
    edge = (R.ALB, R.CLOUDFRONT_DISTRIBUTION, R.API_GATEWAY, R.NLB)
    if (
        action == Action.MODIFY
        and verb in ("enable", "turn on", "configure")
        and "ssl" in features
        and not any(r.type in edge for r in parts)
    ):
        action, verb = Action.OPERATE, "configure"
    if (
        action == Action.MODIFY
        and verb in ("update", "upgrade")
        and (words & {"packages", "os", "patches", "system", "kernel", "software"})
    ):
        action, verb = Action.OPERATE, "patch"
    if (
        action == Action.CREATE
        and verb == "add"
        and (
            re.search(r"\badd\b.*\bto\b", asm.text) or "storage" in asm.ents or asm.has("add tag", "add tags")
        )
    ):
        action = Action.MODIFY
    if (
        action == Action.CREATE
        and verb == "make"
        and (words & {"it", "them", "the", "this", "that"} or any(r.names for r in parts))
        and not (has_itype or any(r.count for r in parts))
    ):
        action = Action.MODIFY
    if (
        action == Action.OPERATE
        and verb in ("run", "execute")
        and (asm._is_ml() or asm._is_compliance() or asm._security_checks() or words & V.COST_WORDS)
    ):
        action = Action.QUERY
    ops_verb = _live_operation(state, asm, action, verb, parts)
    if ops_verb is not None:
        action, verb, no_action = Action.OPERATE, ops_verb, False
    if action != first_action:
        parts, orphan_names = asm.resources(action)
    if action == Action.OPERATE and verb in ("install", "configure", "set up", "setup", "deploy"):
        # "install postgres": the engine is a package here, not a database to create
        engines = [str(e.value[0]) for e in asm.ents.get("engine", [])]  # type: ignore[index]
        packages += [_ENGINE_PACKAGES.get(engine, engine) for engine in engines]
        parts = [r for r in parts if not (r.type in (R.RDS_INSTANCE, R.ELASTICACHE_CLUSTER) and not r.names)]

    domain = Domain.OPS if ops_verb is not None else asm.domain(action, parts)
    if no_action:
        ambiguities.append(
            Ambiguity(
                field="action",
                question="What would you like to do?",
                options=["create", "modify", "destroy", "query", "operate"],
            )
        )

    # ---- orphan names go to the one resource, or imply one
    if orphan_names and action != Action.CREATE and parts:
        # "add two t3.medium instances to the web-asg": a name that says what it is stands alone
        for name in list(orphan_names):
            kind = _type_from_name(name)
            if kind != R.EC2_INSTANCE and all(r.type != kind for r in parts):
                parts.append(_Res(type=kind, index=len(tokens), names=[name], implied=True))
                orphan_names.remove(name)
    if orphan_names:
        if len(parts) == 1:
            parts[0].names.extend(n for n in orphan_names if n not in parts[0].names)
        elif not parts and action != Action.CREATE:
            kind = _type_from_name(orphan_names[0])
            parts.append(_Res(type=kind, index=0, names=list(orphan_names), implied=True))
        elif parts:
            parts[-1].names.extend(n for n in orphan_names if n not in parts[-1].names)

    # ---- region
    region: str | None = None
    regions = [str(e.value) for e in asm.ents.get("region", [])]
    known = [r for r in regions if r in V.REGION_CODES]
    if known:
        region = known[0]
        others = sorted(set(known) - {region})
        if others:
            assumptions.append(f"more than one region named; using {region} (also: {', '.join(others)})")
    elif regions:
        ambiguities.append(
            Ambiguity(
                field="region",
                question=f"{regions[0]} is not an AWS region I know. Which region did you mean?",
                options=list(V.POPULAR_REGIONS),
            )
        )
    if region is None and not regions:
        if action == Action.QUERY:
            assumptions.append("no region given; the question covers all enabled regions")
        elif state.default_region:
            region = state.default_region
            assumptions.append(f"region taken from config default ({region})")
        elif action == Action.CREATE:
            ambiguities.append(
                Ambiguity(
                    field="region",
                    question="Which AWS region should this go in?",
                    options=list(V.POPULAR_REGIONS),
                )
            )

    # ---- tags and filters
    tags: dict[str, str] = {}
    filters: dict[str, str] = {}
    for entity in asm.ents.get("tag", []):
        key, value, start = entity.value  # type: ignore[misc]
        before = state.low[max(0, start - 24) : start]
        applies = action == Action.CREATE or (
            action == Action.MODIFY
            and re.search(
                r"\b(add|set|apply|put|update|change)\b.{0,12}\btags?\b|\btag (them|it|with)\b", before
            )
            is not None
        )
        if action == Action.MODIFY and "tagged" in before.split()[-3:]:
            applies = False
        if action == Action.OPERATE and verb == Operation.TAG:
            # "tag the instances tagged Env=dev with Owner=bob": a tag unless it selects
            applies = _FILTER_INTROS_RE.search(" ".join(before.split()[-3:])) is None
        (tags if applies else filters)[key] = value

    # ---- environment
    environment: Environment | None = None
    for word in asm.words:
        if word in V.ENVIRONMENT_WORDS:
            environment = V.ENVIRONMENT_WORDS[word]
            break
    if environment is None:
        for key, value in list(filters.items()) + list(tags.items()):
            if key.lower() in V.ENV_TAG_KEYS and value.lower() in V.ENVIRONMENT_WORDS:
                environment = V.ENVIRONMENT_WORDS[value.lower()]
                break

    # ---- budget
    budgets = [e.value for e in asm.ents.get("budget", [])]
    budget = budgets[0] if budgets else None
    if len(budgets) > 1:
        assumptions.append("more than one amount given; using the first as the budget")

    # ---- constraints
    constraints: list[str] = []
    if action in (Action.CREATE, Action.MODIFY):
        remaining = asm.text
        for phrase, constraint in sorted(V.CONSTRAINT_PHRASES.items(), key=lambda kv: (-len(kv[0]), kv[0])):
            needle = f" {phrase} "
            if needle in remaining:
                remaining = remaining.replace(needle, " \0 ")
                if constraint not in constraints:
                    constraints.append(constraint)
        if "behind_alb" not in constraints and _BEHIND_LB_RE.search(asm.text):
            constraints.append("behind_alb")
        if "multi_az" in asm.ents and "multi_az" not in constraints:
            constraints.append("multi_az")
        if "single_az" in constraints and "multi_az" in constraints:
            constraints.remove("single_az")
        if "range" in asm.ents and "autoscaling" not in constraints and any(r.type == R.ASG for r in parts):
            constraints.append("autoscaling")
        constraints.sort(key=lambda c: asm.text.find(c.split("_")[0]))

    # ---- per-resource details
    storages = [int(e.value) for e in asm.ents.get("storage", [])]  # type: ignore[call-overload]
    memories = [int(e.value) for e in asm.ents.get("memory", [])]  # type: ignore[call-overload]
    ranges = [e.value for e in asm.ents.get("range", [])]
    if "behind_alb" in constraints and not any(r.type in (R.ALB, R.NLB) for r in parts):
        parts.append(_Res(type=R.ALB, index=10_000, implied=True))
        assumptions.append("added an application load balancer for 'behind a load balancer'")
    if storages:
        target = next(
            (
                r
                for kinds in ((R.RDS_INSTANCE,), (R.EBS_VOLUME, R.EFS_FILE_SYSTEM), (R.EC2_INSTANCE, R.ASG))
                for r in parts
                if r.type in kinds
            ),
            None,
        )
        if target is not None:
            target.storage_gb = storages[0]
        elif action in (Action.CREATE, Action.MODIFY):
            assumptions.append(f"storage of {storages[0]} GB given without a resource to attach it to")
    if memories:
        target = next((r for r in parts if r.type in (R.LAMBDA_FUNCTION, R.ECS_SERVICE)), None)
        if target is not None:
            target.memory_mb = memories[0]
    if ranges:
        target = next((r for r in parts if r.type in (R.ASG, R.EKS_CLUSTER, R.ECS_SERVICE)), None)
        target = target or next((r for r in parts if r.type == R.EC2_INSTANCE), None)
        if target is not None:
            target.min_count, target.max_count = ranges[0]  # type: ignore[misc]
    if action == Action.MODIFY:
        version = _VERSION_RE.search(asm.text)
        for r in parts:
            if (
                r.type == R.RDS_INSTANCE
                and r.engine_version is None
                and version
                and (r.engine or verb == "upgrade")
            ):
                r.engine_version = version.group(1)
    multi_az_on = "multi_az" in constraints
    single_az = "single_az" in constraints
    for r in parts:
        if r.type in (R.RDS_INSTANCE, R.ELASTICACHE_CLUSTER):
            if multi_az_on:
                r.multi_az = True
            elif single_az:
                r.multi_az = False

    # ---- counts, defaults and vague scope
    any_all = bool(words & _ALL_WORDS)
    vague_words = words & _VAGUE_SCOPE
    for r in parts:
        if action == Action.CREATE:
            if r.vague:
                ambiguities.append(
                    Ambiguity(
                        field="count",
                        question=f"How many {r.type.value.replace('_', ' ')}s should I create?",
                        options=["1", "2", "3", "5"],
                    )
                )
            elif r.count is None:
                r.count = 1
                if r.plural:
                    assumptions.append(f"count not given for {r.type.value}; defaulted to 1")
            if r.type == R.EC2_INSTANCE and r.instance_type is None:
                assumptions.append("instance type not given; the blueprint default applies")
            if r.type == R.RDS_INSTANCE and r.engine is None:
                assumptions.append("database engine not given; the blueprint default applies")
            if r.type == R.EKS_CLUSTER and r.node_count is None:
                assumptions.append("node count not given; the blueprint default applies")
    if action in (Action.OPERATE, Action.DESTROY, Action.MODIFY):
        named = any(r.names for r in parts)
        # an operation's plan lists every resolved target for review, so a role hint scopes it
        hinted = action == Action.OPERATE and any("role" in r.attributes for r in parts)
        scoped = named or bool(filters) or environment is not None or any_all or hinted
        if vague_words or any(r.vague for r in parts) or not scoped:
            what = parts[0].type.value.replace("_", " ") + "s" if parts else "resources"
            ambiguities.append(
                Ambiguity(
                    field="targets",
                    question=f"Which {what} should this apply to?",
                    options=["all of them in the region", "those with a tag (key=value)", "by name or id"],
                )
            )

    # ---- details
    operation = _operation(action, domain, verb, asm)
    flags: list[Flag] = []
    command = state.command if operation == Operation.RUN_COMMAND else None
    if command is not None and (screening.command_findings(command) or len(command) > MAX_COMMAND):
        flags.append(Flag.EMBEDDED_CODE)  # a command with shell metacharacters is code, not a command
        command = None
    if operation == Operation.RUN_COMMAND and command is None and not flags:
        ambiguities.append(
            Ambiguity(field="params.command", question="Which command should I run?", options=[])
        )
    if operation == Operation.SCALE:
        ambiguities.extend(_scale_questions(state, parts))
    tag_keys = [str(key) for e in asm.ents.get("tag_keys", []) for key in e.value]  # type: ignore[attr-defined]
    params = _details(asm, action, domain, parts, packages, features).model_copy(
        update={
            "command": command,
            "tag_keys": tag_keys if operation == Operation.UNTAG else [],
            "time_range": TimeRange(expression=state.time_range[0], text=state.time_range[1][:100])
            if state.time_range
            else None,
        }
    )
    if domain == Domain.ML and params.task is None:
        ambiguities.append(
            Ambiguity(
                field="params.task",
                question="What kind of analysis do you want?",
                options=[
                    "sentiment",
                    "summarization",
                    "topic_modeling",
                    "entity_extraction",
                    "classification",
                ],
            )
        )
    if domain == Domain.COMPLIANCE and not params.frameworks and not params.checks:
        ambiguities.append(
            Ambiguity(
                field="params.checks",
                question="Which compliance check should I run, and over what scope?",
                options=list(V.COMPLIANCE_OPTIONS),
            )
        )
    if action == Action.CREATE and not parts and domain == Domain.INFRA:
        ambiguities.append(
            Ambiguity(
                field="resources",
                question="What should I create?",
                options=[
                    "EC2 instances",
                    "an S3 bucket",
                    "an RDS database",
                    "an EKS cluster",
                    "a Lambda function",
                ],
            )
        )

    for r in parts:
        if r.count is not None and r.count > MAX_COUNT:
            ambiguities.append(
                Ambiguity(
                    field="count",
                    question=f"{r.count} is over the limit of {MAX_COUNT}; how many did you mean?",
                    options=["1", "2", "3", "5", "10"],
                )
            )
            r.count = None
    resources = [_to_resource(r) for r in sorted(parts, key=lambda r: r.index)]

    assumptions = list(dict.fromkeys(assumptions + state.corrections))
    ambiguities = _dedupe_ambiguities(ambiguities)
    confidence = 0.92
    if no_action:
        confidence = 0.2
    confidence -= 0.3 * len(ambiguities)
    if any(a.field in _SCOPE_FIELDS for a in ambiguities):
        confidence = min(confidence, 0.35)
    confidence -= 0.03 * len([a for a in assumptions if not a.startswith("read '")])
    confidence -= 0.02 * len(state.corrections)
    if action == Action.CREATE and not resources:
        confidence -= 0.2
    confidence = round(min(0.99, max(0.05, confidence)), 2)

    return Intent(
        action=action,
        domain=domain,
        resources=resources,
        region=region,
        environment=environment,
        budget=budget,  # type: ignore[arg-type]
        tags=tags,
        filters=filters,
        operation=operation,
        params=params,
        constraints=constraints,
        assumptions=assumptions,
        ambiguities=ambiguities,
        flags=flags,
        confidence=confidence,
        raw_text=state.raw[:10_000],
        parser=PARSER_NAME,
    )


def _live_operation(
    state: _Parse, asm: _Assembler, action: Action | None, verb: str | None, parts: list[_Res]
) -> str | None:
    """The operation when the request acts on live resources rather than on Terraform: tagging,
    untagging, and scaling an ECS service or an ASG ("scale service web in cluster prod to 4")."""
    if "tag_keys" in asm.ents:
        return Operation.UNTAG.value
    leading = _TAG_VERB_RE.match(state.low)
    if leading is not None:
        return leading.group(1)
    if action in (Action.CREATE, Action.MODIFY) and verb == "add" and asm.has("add tag", "add tags"):
        return Operation.TAG.value
    scaling = (verb is not None and verb.split()[0] == "scale") or _DESIRED_RE.search(state.low)
    if scaling and any(r.type in _SCALABLE for r in parts):
        return Operation.SCALE.value
    return None


def _scale_questions(state: _Parse, parts: list[_Res]) -> list[Ambiguity]:
    """Fill the desired count from "to N"; ask for what a scale cannot do without."""
    target = next((r for r in parts if r.type in _SCALABLE), None)
    if target is None:
        return []
    questions: list[Ambiguity] = []
    if target.count is None:
        counts = list(_TO_COUNT_RE.finditer(state._masked()))
        if counts:
            target.count = int(counts[-1].group(1))
    what = "tasks" if target.type == R.ECS_SERVICE else "instances"
    if target.count is None:
        negative = "negative_count" in {e.kind for e in state.entities}
        question = f"How many {what} should it run?"
        if negative:
            question = f"A desired count cannot be negative. {question}"
        questions.append(Ambiguity(field="count", question=question, options=["1", "2", "4", "8"]))
    if target.type == R.ECS_SERVICE and target.names and "cluster" not in target.attributes:
        questions.append(
            Ambiguity(
                field="cluster",
                question=f"Which ECS cluster is the service {target.names[0]} in?",
                options=["default"],
            )
        )
    return questions


def _dedupe_ambiguities(items: list[Ambiguity]) -> list[Ambiguity]:
    seen: set[str] = set()
    out: list[Ambiguity] = []
    for item in items:
        if item.field not in seen:
            seen.add(item.field)
            out.append(item)
    return out


def _to_resource(r: _Res) -> Resource:
    names: list[str] = []
    for name in r.names:
        if name and name not in names and len(name) <= 255:
            names.append(name)
    return Resource(
        type=r.type,
        count=r.count,
        names=names,
        instance_type=r.instance_type,
        instance_class=r.instance_class,
        engine=r.engine,
        engine_version=r.engine_version,
        storage_gb=r.storage_gb,
        multi_az=r.multi_az,
        node_count=r.node_count,
        node_instance_type=r.node_instance_type,
        min_count=r.min_count,
        max_count=r.max_count,
        memory_mb=r.memory_mb,
        attributes=r.attributes,
    )


def _operation(action: Action, domain: Domain, verb: str | None, asm: _Assembler) -> str | None:
    if action == Action.OPERATE:
        if verb in V.OPERATIONS:
            return V.OPERATIONS[verb]
        return verb.replace(" ", "_") if verb else None
    if action == Action.MODIFY:
        return verb.replace(" ", "_") if verb else None
    if action == Action.QUERY:
        return {
            Domain.COST: "cost_report",
            Domain.SECURITY: "security_scan",
            Domain.MONITORING: "logs"
            if asm.word_set & {"log", "logs", "errors", "error", "exceptions"}
            else "metrics",
            Domain.ML: "analyze",
            Domain.COMPLIANCE: "compliance_check",
        }.get(domain, "count" if asm.has("how many") else "list")
    return None


def _details(
    asm: _Assembler,
    action: Action,
    domain: Domain,
    parts: list[_Res],
    packages: list[str],
    features: list[str],
) -> Params:
    words = asm.words
    word_set = asm.word_set
    services: list[str] = []
    for r in sorted(parts, key=lambda r: r.index):
        service = V.SERVICE_OF_TYPE.get(r.type)
        if service and service not in services:
            services.append(service)
    checks: list[str] = []
    frameworks: list[str] = []
    if domain == Domain.SECURITY:
        checks = asm._security_checks()
    if domain == Domain.COMPLIANCE:
        for phrase, check in V.COMPLIANCE_CHECKS.items():
            if asm.has(phrase) and check not in checks:
                checks.append(check)
        missing = asm.has("without a", "without an", "missing the", "missing a", "missing an")
        if "tag" in word_set and missing and "tagging" not in checks:
            checks.append("tagging")
        for word in words:
            framework = V.FRAMEWORKS.get(word)
            if framework and framework not in frameworks:
                frameworks.append(framework)
    windows = [str(e.value) for e in asm.ents.get("window", [])]
    window = windows[0] if windows else None
    period: Period | None = None
    if domain == Domain.COST:
        for word in words:
            if word in ("daily", "day", "today", "yesterday", "day-wise", "per-day"):
                period = Period.DAY
                break
            if word in ("monthly", "month", "mtd", "month-to-date"):
                period = Period.MONTH
                break
            if word in ("hourly", "hour"):
                period = Period.HOUR
                break
    log_level: LogLevel | None = None
    if domain == Domain.MONITORING:
        for word in words:
            if word in V.LOG_LEVELS:
                log_level = LogLevel(V.LOG_LEVELS[word])
                break
    task: str | None = None
    if domain == Domain.ML:
        for word in words:
            if word in V.ML_TASKS:
                task = V.ML_TASKS[word]
                break
    group_by: str | None = None
    if domain == Domain.COST:
        match = _GROUP_BY_RE.search(asm.text)
        if match:
            group_by = match.group(1).replace(" ", "_")
    keep_packages: list[str] = []
    keep_features: list[str] = []
    if domain == Domain.CONFIG:
        for item in packages:
            if item not in keep_packages:
                keep_packages.append(item)
        for item in features:
            if item not in keep_features:
                keep_features.append(item)
    return Params(
        services=services if action in (Action.QUERY,) else [],
        checks=checks,
        frameworks=frameworks,
        window=window,
        period=period,
        log_level=log_level,
        packages=keep_packages,
        features=keep_features,
        task=task,
        group_by=group_by,
    )
